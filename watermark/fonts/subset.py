"""Rebuild the shipped label font: a subset of Noto Sans CJK SC Bold (SIL OFL 1.1).

Run once, by hand, when the label texts change (needs the dev dependency fontTools and Debian's
fonts-noto-cjk package):  .venv/bin/python -m watermark.fonts.subset
The subset is renamed, as the OFL asks of modified versions, and keeps the upstream copyright.
"""
from __future__ import annotations

import string
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
SOURCE_INDEX = 2  # Noto Sans CJK SC Bold inside the collection
HERE = Path(__file__).resolve().parent
TARGET = HERE / "ConsentframeLabelSans-Bold.otf"
FAMILY = "Consentframe Label Sans"


def label_characters() -> str:
    from watermark.labels import LABEL_TEXTS

    return "".join(sorted(set("".join(LABEL_TEXTS)) | set(string.printable.strip()) | {" "}))


def main() -> None:
    font = TTCollection(str(SOURCE)).fonts[SOURCE_INDEX]
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=label_characters())
    subsetter.subset(font)
    names = font["name"]
    for record in list(names.names):
        if record.nameID in (1, 3, 4, 6, 16, 17, 18):
            value = {1: FAMILY, 3: f"{FAMILY} Bold subset", 4: f"{FAMILY} Bold", 6: "ConsentframeLabelSans-Bold",
                     16: FAMILY, 17: "Bold", 18: f"{FAMILY} Bold"}[record.nameID]
            names.setName(value, record.nameID, record.platformID, record.platEncID, record.langID)
    if "CFF " in font:
        font["CFF "].cff.fontNames = ["ConsentframeLabelSans-Bold"]
    font.save(str(TARGET))
    print(f"{TARGET} {TARGET.stat().st_size} bytes, {len(label_characters())} characters")


if __name__ == "__main__":
    main()
