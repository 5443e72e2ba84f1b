"""Disposable H.264 packets: frames no other frame refers to, which need no decoding unless wanted.

In H.264 every NAL unit header carries ``nal_ref_idc``; a picture whose slices all have
``nal_ref_idc == 0`` is never used to predict another picture (typically most B-frames). Not
sending such a packet to the decoder changes no other frame, so when frames are taken every N,
or around events, the disposable frames between them cost nothing. Only the length-prefixed
("AVCC") layout of MP4/MKV/MOV is parsed; anything else is treated as not disposable.
"""

from __future__ import annotations

_SLICE_TYPES = (1, 5)  # coded slice of a non-IDR / IDR picture


def nal_length_size(extradata: bytes | None) -> int | None:
    r"""Bytes of each NAL length prefix from an ``avcC`` record, or ``None`` when it is not one.

    Examples:
        >>> nal_length_size(bytes([1, 0x64, 0, 0x1F, 0xFF, 0xE1, 0x00]))
        4
        >>> nal_length_size(b"\x00\x00\x00\x01") is None
        True

    """
    if not extradata or len(extradata) < 7 or extradata[0] != 1:
        return None
    return (extradata[4] & 3) + 1


def is_disposable(data: bytes | memoryview, length_size: int) -> bool:
    """Whether an AVCC packet holds slices only, each with ``nal_ref_idc == 0``.

    Examples:
        >>> b_frame = (3).to_bytes(4, "big") + bytes([0x01, 0x9E, 0x00])  # nal_ref_idc 0, type 1
        >>> p_frame = (3).to_bytes(4, "big") + bytes([0x41, 0x9A, 0x00])  # nal_ref_idc 2, type 1
        >>> is_disposable(b_frame, 4), is_disposable(p_frame, 4), is_disposable(b"", 4)
        (True, False, False)

    """
    view = memoryview(data)
    pos, end, slices = 0, len(view), 0
    while pos + length_size < end:
        n = int.from_bytes(view[pos : pos + length_size], "big")
        pos += length_size
        if n <= 0 or pos + n > end:
            return False  # not what this parser understands: decode it
        header = view[pos]
        if (header & 0x1F) in _SLICE_TYPES:
            if header & 0x60:
                return False
            slices += 1
        pos += n
    return slices > 0 and pos == end
