//! Native storage backends for isr.
