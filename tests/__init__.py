#: how long a test waits before it calls a wait a hang: a bound, never a measure of speed (a test
#: passes as soon as the thing it waits for happens; a busy machine only makes it later)
HANG_S = 600
