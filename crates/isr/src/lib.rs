//! The isr engine.
