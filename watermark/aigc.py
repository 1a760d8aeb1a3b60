"""GB 45438-2025 implicit label (Appendix E, TC260-PG-20257A): the `AIGC` metadata JSON.

MP4: `moov/udta/meta` with handler `mdta`, the key `AIGC` (namespace `mdta`) in `keys` and its
UTF-8 value in `ilst` (the layout FFmpeg writes with `-movflags use_metadata_tags`). Images: an XMP
property `<TC260:AIGC>` in namespace `http://www.tc260.org.cn/ns/AIGC/1.0/` (JPEG APP1, PNG iTXt).

Write the label before the C2PA manifest is signed, so that the manifest's hash covers it; writing
it afterwards invalidates the manifest.
"""
from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import asdict, dataclass, fields
from xml.etree import ElementTree

AIGC_KEY = "AIGC"
TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PNG_KEYWORD = b"XML:com.adobe.xmp"
_JSON_NAMES = {
    "label": "Label",
    "content_producer": "ContentProducer",
    "produce_id": "ProduceID",
    "reserved_code1": "ReservedCode1",
    "content_propagator": "ContentPropagator",
    "propagate_id": "PropagateID",
    "reserved_code2": "ReservedCode2",
}


class AigcError(ValueError):
    """The file cannot carry (or does not hold a well-formed) implicit label. `code` is stable."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, kw_only=True)
class AigcLabel:
    """The Appendix E fields. `label` "1" marks the content as AI-generated.

    content_producer: the generating service's name or code; produce_id: this content's ID there.
    The propagator fields are for platforms that redistribute the content.
    """

    label: str = "1"
    content_producer: str
    produce_id: str
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    def to_json(self) -> str:
        return json.dumps({_JSON_NAMES[k]: v for k, v in asdict(self).items()}, ensure_ascii=False,
                          separators=(",", ":"))

    def as_dict(self) -> dict:
        return {_JSON_NAMES[f.name]: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, text: str) -> "AigcLabel":
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AigcError("aigc_malformed", f"The AIGC metadata is not JSON: {exc}") from exc
        # Some writers wrap the fields in {"AIGC": {...}}; accept both.
        if isinstance(value, dict) and isinstance(value.get(AIGC_KEY), dict):
            value = value[AIGC_KEY]
        if not isinstance(value, dict):
            raise AigcError("aigc_malformed", "The AIGC metadata is not a JSON object.")
        by_json = {v: k for k, v in _JSON_NAMES.items()}
        kwargs = {by_json[k]: str(v) for k, v in value.items() if k in by_json and v is not None}
        if "content_producer" not in kwargs or "produce_id" not in kwargs:
            raise AigcError("aigc_malformed", "The AIGC metadata lacks ContentProducer or ProduceID.")
        return cls(**kwargs)


# --- ISO BMFF boxes ----------------------------------------------------------------------------

def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """Yield (type, start, header_size, end) for the boxes in data[start:end]."""
    end = len(data) if end is None else end
    offset = start
    while offset + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if offset + 16 > end:
                break
            size = struct.unpack_from(">Q", data, offset + 8)[0]
            header = 16
        elif size == 0:
            size = end - offset
        if size < header or offset + size > end:
            raise AigcError("mp4_malformed", f"Box {kind!r} at {offset} overruns its container.")
        yield kind, offset, header, offset + size
        offset += size


def _box(kind: bytes, payload: bytes) -> bytes:
    if len(payload) + 8 > 0xFFFFFFFF:
        raise AigcError("mp4_malformed", "Metadata box too large.")
    return struct.pack(">I4s", len(payload) + 8, kind) + payload


def _find(data: bytes, kind: bytes, start: int, end: int):
    for found in _boxes(data, start, end):
        if found[0] == kind:
            return found
    return None


def _meta_children_start(data: bytes, start: int, header: int, end: int) -> int:
    """`meta` is a FullBox in ISO files but a plain box in QuickTime: find where its children begin."""
    body = start + header
    return body if data[body + 4 : body + 8] in (b"hdlr", b"keys", b"ilst") else body + 4


def _parse_mdta(data: bytes, meta) -> dict[str, bytes] | None:
    """Keys → raw `data` box payloads of an `mdta` meta box; None if it is another kind of meta."""
    _, start, header, end = meta
    children = _meta_children_start(data, start, header, end)
    hdlr = _find(data, b"hdlr", children, end)
    if hdlr is None or data[hdlr[1] + hdlr[2] + 8 : hdlr[1] + hdlr[2] + 12] != b"mdta":
        return None
    keys_box = _find(data, b"keys", children, end)
    ilst_box = _find(data, b"ilst", children, end)
    keys: list[str] = []
    if keys_box is not None:
        body = keys_box[1] + keys_box[2]
        count = struct.unpack_from(">I", data, body + 4)[0]
        offset = body + 8
        for _ in range(count):
            size = struct.unpack_from(">I", data, offset)[0]
            if size < 8 or offset + size > keys_box[3]:
                raise AigcError("mp4_malformed", "Malformed keys box.")
            keys.append(data[offset + 8 : offset + size].decode("utf-8", "replace"))
            offset += size
    values: dict[str, bytes] = {}
    if ilst_box is not None:
        for kind, item_start, item_header, item_end in _boxes(data, ilst_box[1] + ilst_box[2], ilst_box[3]):
            index = struct.unpack(">I", kind)[0]
            value = _find(data, b"data", item_start + item_header, item_end)
            if value is not None and 1 <= index <= len(keys):
                values[keys[index - 1]] = data[value[1] + value[2] : value[3]]
    return values


def _mdta_meta(values: dict[str, bytes]) -> bytes:
    names = list(values)
    hdlr = _box(b"hdlr", b"\0" * 8 + b"mdta" + b"\0" * 12 + b"\0")
    keys = _box(
        b"keys",
        struct.pack(">II", 0, len(names))
        + b"".join(struct.pack(">I4s", len(n.encode()) + 8, b"mdta") + n.encode() for n in names),
    )
    ilst = _box(b"ilst", b"".join(_box(struct.pack(">I", i + 1), _box(b"data", values[n])) for i, n in enumerate(names)))
    return _box(b"meta", b"\0\0\0\0" + hdlr + keys + ilst)


def _utf8_data(text: str) -> bytes:
    # data box payload: type indicator 1 (UTF-8), locale 0, then the text.
    return struct.pack(">II", 1, 0) + text.encode("utf-8")


def _shift_chunk_offsets(moov: bytearray, delta: int) -> None:
    """Move every stco/co64 entry by `delta` (the mdat moved because moov, before it, changed size)."""

    def walk(start: int, end: int):
        for kind, box_start, header, box_end in _boxes(bytes(moov), start, end):
            if kind in (b"trak", b"mdia", b"minf", b"stbl", b"edts"):
                walk(box_start + header, box_end)
            elif kind == b"stco":
                count = struct.unpack_from(">I", moov, box_start + header + 4)[0]
                for i in range(count):
                    at = box_start + header + 8 + 4 * i
                    value = struct.unpack_from(">I", moov, at)[0] + delta
                    if not 0 <= value <= 0xFFFFFFFF:
                        raise AigcError("mp4_malformed", "Chunk offset out of range after adding metadata.")
                    struct.pack_into(">I", moov, at, value)
            elif kind == b"co64":
                count = struct.unpack_from(">I", moov, box_start + header + 4)[0]
                for i in range(count):
                    at = box_start + header + 8 + 8 * i
                    struct.pack_into(">Q", moov, at, struct.unpack_from(">Q", moov, at)[0] + delta)

    walk(8, len(moov))


def write_mp4_aigc(data: bytes, label: AigcLabel) -> bytes:
    """Return the MP4 with `label` in moov/udta/meta (other mdta keys kept; an iTunes-style meta,
    such as FFmpeg's encoder tag, is replaced because a udta holds one meta box)."""
    top = list(_boxes(data))
    kinds = [b[0] for b in top]
    if b"moov" not in kinds:
        raise AigcError("mp4_no_moov", "Not a complete MP4 (no moov box); write the label after encoding.")
    if b"moof" in kinds:
        raise AigcError("mp4_fragmented", "Fragmented MP4 is not supported; label each complete segment file.")
    _, moov_start, moov_header, moov_end = top[kinds.index(b"moov")]
    if moov_header != 8:
        raise AigcError("mp4_malformed", "A moov box with a 64-bit size is not supported.")

    children = []  # moov children except udta, as bytes
    udta_children = []
    values: dict[str, bytes] = {}
    for kind, start, header, end in _boxes(data, moov_start + 8, moov_end):
        if kind != b"udta":
            children.append(data[start:end])
            continue
        for sub in _boxes(data, start + header, end):
            if sub[0] == b"meta":
                existing = _parse_mdta(data, sub)
                if existing:
                    values.update(existing)
            else:
                udta_children.append(data[sub[1] : sub[3]])
    values[AIGC_KEY] = _utf8_data(label.to_json())
    udta = _box(b"udta", b"".join(udta_children) + _mdta_meta(values))
    moov = bytearray(_box(b"moov", b"".join(children) + udta))

    delta = len(moov) - (moov_end - moov_start)
    data_after_moov = any(k == b"mdat" and s > moov_start for k, s, _, _ in top)
    if delta and data_after_moov:
        _shift_chunk_offsets(moov, delta)
    return data[:moov_start] + bytes(moov) + data[moov_end:]


def read_mp4_aigc(data: bytes) -> AigcLabel | None:
    """The implicit label in an MP4's moov/udta/meta, or None when there is none."""
    try:
        moov = _find(data, b"moov", 0, len(data))
        if moov is None:
            return None
        udta = _find(data, b"udta", moov[1] + moov[2], moov[3])
        if udta is None:
            return None
        for sub in _boxes(data, udta[1] + udta[2], udta[3]):
            if sub[0] == b"meta":
                values = _parse_mdta(data, sub) or {}
                raw = values.get(AIGC_KEY)
                if raw is not None:
                    return AigcLabel.from_json(raw[8:].decode("utf-8"))
    except (struct.error, UnicodeDecodeError) as exc:
        raise AigcError("mp4_malformed", f"Cannot parse the MP4 metadata: {exc}") from exc
    return None


def _file_moov(path) -> tuple[int, int, int]:
    """(moov start, moov end, file size) of the MP4 file at `path`, from its top-level box headers."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        offset = 0
        while offset + 8 <= size:
            fh.seek(offset)
            head = fh.read(16)
            box_size, kind = struct.unpack_from(">I4s", head)
            if box_size == 1 and len(head) == 16:
                box_size = struct.unpack_from(">Q", head, 8)[0]
            elif box_size == 0:
                box_size = size - offset
            if box_size < 8 or offset + box_size > size:
                raise AigcError("mp4_malformed", f"Box {kind!r} at {offset} overruns the file.")
            if kind == b"moov":
                return offset, offset + box_size, size
            offset += box_size
    raise AigcError("mp4_no_moov", "Not a complete MP4 (no moov box); write the label after encoding.")


def read_mp4_aigc_file(path) -> AigcLabel | None:
    """read_mp4_aigc for the MP4 file at `path`, reading only its moov box."""
    start, end, _ = _file_moov(path)
    with open(path, "rb") as fh:
        fh.seek(start)
        return read_mp4_aigc(fh.read(end - start))


def write_mp4_aigc_file(path, label: AigcLabel) -> None:
    """write_mp4_aigc on the MP4 file at `path`, in place.

    When the moov is the file's last box (as FFmpeg writes MP4 by default) only the moov is read
    and rewritten: no chunk offset moves, and a recording of hours never sits in memory. Any other
    layout is rewritten whole.
    """
    start, end, size = _file_moov(path)
    with open(path, "r+b") as fh:
        if end != size:
            labelled = write_mp4_aigc(fh.read(), label)
            fh.seek(0)
        else:
            fh.seek(start)
            labelled = write_mp4_aigc(fh.read(end - start), label)  # a lone moov: nothing after it to shift
            fh.seek(start)
        fh.write(labelled)
        fh.truncate()
        fh.flush()
        os.fsync(fh.fileno())


# --- Images (XMP) ------------------------------------------------------------------------------

def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _description(label: AigcLabel) -> str:
    return (
        f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}">'
        f"<TC260:AIGC>{_xml_escape(label.to_json())}</TC260:AIGC></rdf:Description>"
    )


def _xmp_packet(label: AigcLabel) -> bytes:
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f"{_description(label)}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode("utf-8")


def _merge_xmp(existing: bytes | None, label: AigcLabel) -> bytes:
    """Our packet, or the existing one with the TC260 description added (replacing an old one)."""
    if not existing:
        return _xmp_packet(label)
    text = existing.decode("utf-8", "replace")
    if TC260_NS in text:
        return _xmp_packet(label) if "</rdf:RDF>" not in text else _replace_tc260(text, label)
    if "</rdf:RDF>" not in text:
        return _xmp_packet(label)
    return text.replace("</rdf:RDF>", _description(label) + "</rdf:RDF>", 1).encode("utf-8")


def _replace_tc260(text: str, label: AigcLabel) -> bytes:
    """Drop the old TC260 description(s) from an XMP packet, then add the new one."""
    rdf_ns = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    # Serialise with the usual prefixes so that the result still reads `</rdf:RDF>`.
    ElementTree.register_namespace("x", "adobe:ns:meta/")
    ElementTree.register_namespace("rdf", rdf_ns)
    try:
        root = ElementTree.fromstring(_strip_xpacket(text))
    except ElementTree.ParseError as exc:
        raise AigcError("xmp_malformed", f"The existing XMP packet is not well-formed XML: {exc}") from exc
    for rdf_node in root.iter(f"{{{rdf_ns}}}RDF"):
        for desc in list(rdf_node):
            if desc.find(f"{{{TC260_NS}}}AIGC") is not None or f"{{{TC260_NS}}}AIGC" in desc.attrib:
                rdf_node.remove(desc)
    body = ElementTree.tostring(root, encoding="unicode")
    if "</rdf:RDF>" not in body:
        return _xmp_packet(label)
    return body.replace("</rdf:RDF>", _description(label) + "</rdf:RDF>", 1).encode("utf-8")


def _strip_xpacket(text: str) -> str:
    start = text.find("<x:xmpmeta")
    if start < 0:
        start = text.find("<rdf:RDF")
    end_tag = "</x:xmpmeta>" if "</x:xmpmeta>" in text else "</rdf:RDF>"
    end = text.rfind(end_tag)
    return text[start : end + len(end_tag)] if start >= 0 and end >= 0 else text


def _label_from_xmp(xmp: bytes) -> AigcLabel | None:
    try:
        root = ElementTree.fromstring(_strip_xpacket(xmp.decode("utf-8", "replace")))
    except ElementTree.ParseError as exc:
        raise AigcError("xmp_malformed", f"The XMP packet is not well-formed XML: {exc}") from exc
    for node in root.iter():
        if node.tag == f"{{{TC260_NS}}}AIGC" and node.text:
            return AigcLabel.from_json(node.text)
        value = node.attrib.get(f"{{{TC260_NS}}}AIGC")
        if value:
            return AigcLabel.from_json(value)
    return None


def _jpeg_segments(data: bytes):
    """Yield (marker, start, end) of the JPEG header segments up to the start of scan."""
    if data[:2] != b"\xff\xd8":
        raise AigcError("image_unsupported", "Not a JPEG file.")
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            raise AigcError("jpeg_malformed", f"Expected a JPEG marker at {offset}.")
        marker = data[offset + 1]
        if marker == 0xDA:  # start of scan: header segments end here
            return
        length = struct.unpack_from(">H", data, offset + 2)[0]
        yield marker, offset, offset + 2 + length
        offset += 2 + length


def _write_jpeg(data: bytes, label: AigcLabel) -> bytes:
    segments = list(_jpeg_segments(data))
    header_end = segments[-1][2] if segments else 2
    existing = None
    pieces: list[bytes] = []
    insert_index = 0
    for marker, start, end in segments:
        body = data[start + 4 : end]
        if marker == 0xE1 and body.startswith(XMP_JPEG_HEADER):
            existing = body[len(XMP_JPEG_HEADER) :]
            continue
        pieces.append(data[start:end])
        if marker == 0xE0 and len(pieces) == insert_index + 1:  # JFIF must stay first
            insert_index += 1
    payload = XMP_JPEG_HEADER + _merge_xmp(existing, label)
    if len(payload) + 2 > 0xFFFF:
        raise AigcError("xmp_too_large", "The XMP packet does not fit one JPEG APP1 segment.")
    pieces.insert(insert_index, b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload)
    return data[:2] + b"".join(pieces) + data[header_end:]


def _png_chunks(data: bytes):
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise AigcError("image_unsupported", "Not a PNG file.")
    offset = 8
    while offset + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        end = offset + 12 + length
        if end > len(data):
            raise AigcError("png_malformed", f"PNG chunk {kind!r} overruns the file.")
        yield kind, offset, end
        offset = end
        if kind == b"IEND":
            return


def _png_xmp(data: bytes, start: int, end: int) -> bytes | None:
    body = data[start + 8 : end - 4]
    keyword, _, rest = body.partition(b"\0")
    if keyword != XMP_PNG_KEYWORD or len(rest) < 2:
        return None
    compressed = rest[0] == 1
    rest = rest[2:]
    _lang, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    return zlib.decompress(text) if compressed else text


def _write_png(data: bytes, label: AigcLabel) -> bytes:
    existing = None
    chunks: list[bytes] = []
    first_idat = None
    for kind, start, end in _png_chunks(data):
        if kind == b"iTXt" and (xmp := _png_xmp(data, start, end)) is not None:
            existing = xmp
            continue
        if kind == b"IDAT" and first_idat is None:
            first_idat = len(chunks)
        chunks.append(data[start:end])
    if first_idat is None:
        raise AigcError("png_malformed", "The PNG has no image data.")
    # keyword, NUL, compression flag 0, method 0, empty language and translated keyword
    body = XMP_PNG_KEYWORD + b"\0\0\0\0\0" + _merge_xmp(existing, label)
    chunks.insert(first_idat, struct.pack(">I", len(body)) + b"iTXt" + body + struct.pack(">I", zlib.crc32(b"iTXt" + body)))
    return data[:8] + b"".join(chunks)


def image_mime(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None


def write_image_aigc(data: bytes, mime: str, label: AigcLabel) -> bytes:
    """Return the JPEG or PNG with the TC260:AIGC XMP property (merged into existing XMP)."""
    if mime == "image/jpeg":
        return _write_jpeg(data, label)
    if mime == "image/png":
        return _write_png(data, label)
    raise AigcError("image_unsupported", f"Cannot label {mime}; export stills as image/jpeg or image/png.")


def read_image_aigc(data: bytes) -> AigcLabel | None:
    """The implicit label in a JPEG's or PNG's XMP, or None when there is none."""
    mime = image_mime(data)
    if mime == "image/jpeg":
        for marker, start, end in _jpeg_segments(data):
            body = data[start + 4 : end]
            if marker == 0xE1 and body.startswith(XMP_JPEG_HEADER):
                found = _label_from_xmp(body[len(XMP_JPEG_HEADER) :])
                if found:
                    return found
        return None
    if mime == "image/png":
        for kind, start, end in _png_chunks(data):
            if kind == b"iTXt" and (xmp := _png_xmp(data, start, end)) is not None:
                found = _label_from_xmp(xmp)
                if found:
                    return found
        return None
    raise AigcError("image_unsupported", "Not a JPEG or PNG file.")
