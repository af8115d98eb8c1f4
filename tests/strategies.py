"""Hostile inputs shared by the property-based tests."""

from hypothesis import strategies as st

#: values people type on purpose: empties, signs, extremes, non-finite, separators, junk
NASTY_TEXT = [
    "", " ", "0", "-0", "-1", "1e308", "-1e308", "1e309", "1e-320", "nan", "NaN", "inf", "-inf",
    "999999999999999999999", "0x10", "1_0", "\u0661\u0662", "  3  ", "\x00", "None", "True", ",", ";;",
    "1,,2", "x=", "=1", "x=1,x=2", "64,0", "64;32", "-64", "1e3", "2.5", "abc", "__import__('os')",
    "1" * 600, "0.1,1,10,100", "x=2, y=3", "sin(x)", "relu", "momentum", "float64",
]

nasty_values = st.one_of(
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=40),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.lists(st.integers(min_value=-5, max_value=10**6), max_size=5).map(lambda xs: ",".join(map(str, xs))),
)

_TOKENS = [
    "x", "y", "z", "1", "2.5", "0", "1e400", "1e-400", "(", ")", "+", "-", "*", "/", "**", "%", "//",
    "sin(", "exp(", "log(", "max(", ",", "__import__", "__class__", ".", "[", "]", "lambda", ":", "'",
    "e", "pi", "open(", "if", "else", "for", "in", "@", "~", "<", "==", "and", "not", " ", "x.y", "9" * 30,
]
expression_soup = st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join)
