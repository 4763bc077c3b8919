//! The Gorgias REST sandbox (customers, data, merge, events, limits). Being built.
