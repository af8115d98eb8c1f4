"""Where runs and notes live: one SQLite database, series as compact arrays, notes as Markdown.

``database`` (the :class:`Store`), ``schema`` (tables, migrations, rows <-> results), ``codec``
(series as byte-plane-compressed arrays), ``filters`` (``name=value`` conditions, sorting),
``files`` (the data directory, atomic writes).  The store knows no task: it imports only
``lab4.core``.
"""

from lab4.store.codec import decode_series, encode_series
from lab4.store.database import RunList, Store, StoreError
from lab4.store.files import ENV, atomic_write, default_data_dir
from lab4.store.filters import where_term
from lab4.store.schema import DB_NAME, SCHEMA_VERSION

__all__ = [
    "Store",
    "StoreError",
    "RunList",
    "default_data_dir",
    "atomic_write",
    "ENV",
    "SCHEMA_VERSION",
    "DB_NAME",
    "encode_series",
    "decode_series",
    "where_term",
]
