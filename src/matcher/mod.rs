//! The pure duplicate matcher: normalisation, blocking, scoring, explanation. Being built.
