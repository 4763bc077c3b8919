//! The HubSpot CRM v3 sandbox (contacts, batch, search, merge, properties, limits). Being built.
