//! The SQLite state store: the only module with SQL. Being built.
