"""Wire formats: one package per API family. No business rule lives here."""
