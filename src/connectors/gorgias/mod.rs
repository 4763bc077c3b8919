//! The Gorgias REST connector. Being built.
