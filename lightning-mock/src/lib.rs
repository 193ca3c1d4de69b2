//! A Lightning stand-in: the Lightning side of the worker protocol over Phoenix channels, a run
//! queue, credential and dataclip stores, a dev HTTP API and a live dashboard, plus fault
//! injection for reliability tests.
