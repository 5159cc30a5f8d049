"""Engines: how hat's per-video (build) and per-clip (eval) work is scheduled, never what it computes."""
