"""Pictures, tapes, frames and pages: read graphs, never change them."""
