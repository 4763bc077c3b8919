//! The HubSpot CRM v3 connector. Being built.
