//! The pure sync engine: mappings, three-way diff, conflicts, planning. Being built.
