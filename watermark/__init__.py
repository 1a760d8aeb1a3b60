"""Invisible watermark, C2PA provenance and GB 45438 labels. Plain Python + torch: no Django here."""
