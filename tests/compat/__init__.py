"""Fidelity tests that run in every environment `./run test` makes (newest bumps with
sasmodels; refl1d 1.0.1 with the bumps it pins): remote == local, same seed."""
