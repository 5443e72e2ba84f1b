"""Which H.264 reference pictures the wanted frames need, read from slice headers alone.

A B-frame that other frames refer to (x264's B-pyramid) must reach the decoder, or libavcodec
fills the gap in ``frame_num`` with stand-in pictures that shift the reference lists of later
frames. But when no wanted frame depends on it, its pixels do not matter: only its slice header
does (``frame_num``, picture order, reference marking). :func:`plan_cuts` finds those pictures; the
decoder is then given each one's slice headers with the slice data cut
(:func:`cut_packet`), so its reference state stays exactly that of a full decode, at almost
no cost (with error concealment off: concealing the cut pictures would cost more than decoding them).

The dependencies are those the standard allows, not a guess: the reference lists of every slice
are built as clause 8.2.4 builds them (``PicNum`` order for P, picture order count for B, the
list modifications in the header, truncated to the active count), with the sliding window and
``mmco 1`` for marking. A picture is needed when it is wanted or in a list of a needed picture.
Streams outside that model (fields or MBAFF, long-term references, POC type 1, gaps in
``frame_num``, slice groups, redundant slices, unparsable headers) get no cuts: every reference
picture is decoded as before. So do CAVLC streams (no CABAC; rare with B-frames): there a cut
slice was measured to change how libavcodec decodes later intra frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

_P, _B, _I, _SP, _SI = 0, 1, 2, 3, 4
_HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}
HEAD_BYTES = 512
"""Bytes of a slice NAL read for its header (a header runs to some tens of bytes; explicit weight
tables for many references make it longer: past this, no cuts). :func:`header_view` keeps as much."""


class Unsupported(Exception):
    """The stream uses something this model does not follow: plan no cuts."""


def _rbsp(nal: bytes) -> bytes:
    """NAL payload without its header byte and emulation-prevention bytes."""
    return nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")


class _Bits:
    """MSB-first bit reader with Exp-Golomb codes (clause 9.1)."""

    def __init__(self, data: bytes) -> None:
        self.value = int.from_bytes(data, "big")
        self.size = len(data) * 8
        self.pos = 0

    def u(self, n: int) -> int:
        if n == 0:
            return 0
        if self.pos + n > self.size:
            raise Unsupported("header runs past the data read")
        self.pos += n
        return (self.value >> (self.size - self.pos)) & ((1 << n) - 1)

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise Unsupported("bad Exp-Golomb code")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        k = self.ue()
        return (k + 1) // 2 if k % 2 else -(k // 2)


@dataclass
class _SPS:
    log2_max_frame_num: int
    poc_type: int
    log2_max_poc_lsb: int
    max_num_ref_frames: int
    chroma_array_type: int


@dataclass
class _PPS:
    sps_id: int
    cabac: bool
    bottom_field_poc: bool
    num_ref_default: tuple[int, int]
    weighted_pred: bool
    weighted_bipred_idc: int
    deblocking_control: bool
    redundant_pic_cnt: bool


def _skip_scaling_list(b: _Bits, size: int) -> None:
    last = nxt = 8
    for _ in range(size):
        if nxt != 0:
            nxt = (last + b.se() + 256) % 256
        last = last if nxt == 0 else nxt


def parse_sps(nal: bytes) -> tuple[int, _SPS]:
    """``(id, SPS)`` of a sequence parameter set NAL (clause 7.3.2.1.1)."""
    b = _Bits(_rbsp(nal))
    profile = b.u(8)
    b.u(16)  # constraint flags, level
    sps_id = b.ue()
    chroma_format = 1
    if profile in _HIGH_PROFILES:
        chroma_format = b.ue()
        separate = b.u(1) if chroma_format == 3 else 0
        if separate:
            raise Unsupported("separate colour planes")
        b.ue()  # bit depth luma
        b.ue()  # bit depth chroma
        b.u(1)  # qpprime_y_zero_transform_bypass
        if b.u(1):  # seq_scaling_matrix_present
            for i in range(8 if chroma_format != 3 else 12):
                if b.u(1):
                    _skip_scaling_list(b, 16 if i < 6 else 64)
    log2_max_frame_num = b.ue() + 4
    poc_type = b.ue()
    log2_max_poc_lsb = 0
    if poc_type == 0:
        log2_max_poc_lsb = b.ue() + 4
    elif poc_type == 1:
        raise Unsupported("picture order count type 1")
    max_refs = b.ue()
    b.u(1)  # gaps_in_frame_num_value_allowed_flag: a gap is refused either way
    b.ue()  # width in MBs
    b.ue()  # height in map units
    if not b.u(1):  # frame_mbs_only_flag
        raise Unsupported("field or MBAFF coding")
    return sps_id, _SPS(log2_max_frame_num, poc_type, log2_max_poc_lsb, max_refs, chroma_format)


def parse_pps(nal: bytes) -> tuple[int, _PPS]:
    """``(id, PPS)`` of a picture parameter set NAL (clause 7.3.2.2, the fields slice headers need)."""
    b = _Bits(_rbsp(nal))
    pps_id = b.ue()
    sps_id = b.ue()
    cabac = bool(b.u(1))
    bottom = bool(b.u(1))
    if b.ue() != 0:  # num_slice_groups_minus1
        raise Unsupported("slice groups")
    l0, l1 = b.ue() + 1, b.ue() + 1
    weighted_pred = bool(b.u(1))
    bipred = b.u(2)
    b.se()  # pic_init_qp
    b.se()  # pic_init_qs
    b.se()  # chroma_qp_index_offset
    deblocking = bool(b.u(1))
    b.u(1)  # constrained_intra_pred
    redundant = bool(b.u(1))
    return pps_id, _PPS(sps_id, cabac, bottom, (l0, l1), weighted_pred, bipred, deblocking, redundant)


@dataclass
class _Slice:
    kind: int
    pps: _PPS
    sps: _SPS
    frame_num: int
    idr: bool
    ref_idc: int
    poc_lsb: int = 0
    delta_bottom: int = 0
    active: tuple[int, int] = (0, 0)
    mods: tuple[list[tuple[int, int]], list[tuple[int, int]]] = field(default_factory=lambda: ([], []))
    mmco: list[tuple[int, int]] | None = None
    header_bytes: int = 0


def _read_mods(b: _Bits) -> list[tuple[int, int]]:
    mods: list[tuple[int, int]] = []
    if b.u(1):
        while True:
            idc = b.ue()
            if idc == 3:
                break
            if idc > 2:
                raise Unsupported("bad list modification")
            if idc == 2:
                raise Unsupported("long-term references")
            mods.append((idc, b.ue()))
    return mods


def _skip_weights(b: _Bits, n: int, chroma: bool) -> None:
    for _ in range(n):
        if b.u(1):
            b.se()
            b.se()
        if chroma and b.u(1):
            for _ in range(4):
                b.se()


def parse_slice(nal: bytes, sps_map: dict[int, _SPS], pps_map: dict[int, _PPS]) -> _Slice:
    """The header of a coded slice NAL (types 1 and 5; clause 7.3.3), to the start of its data."""
    nal = nal[:HEAD_BYTES]
    nal_type, ref_idc = nal[0] & 0x1F, (nal[0] >> 5) & 3
    b = _Bits(_rbsp(nal))
    b.ue()  # first_mb_in_slice
    kind = b.ue() % 5
    pps_id = b.ue()
    if pps_id not in pps_map or pps_map[pps_id].sps_id not in sps_map:
        raise Unsupported("slice before its parameter sets")
    pps = pps_map[pps_id]
    if not pps.cabac:  # measured: after a cut CAVLC slice, libavcodec decodes later intra frames differently
        raise Unsupported("CAVLC slices")
    sps = sps_map[pps.sps_id]
    s = _Slice(kind, pps, sps, b.u(sps.log2_max_frame_num), nal_type == 5, ref_idc)
    if s.idr:
        b.ue()  # idr_pic_id
    if sps.poc_type == 0:
        s.poc_lsb = b.u(sps.log2_max_poc_lsb)
        if pps.bottom_field_poc:
            s.delta_bottom = b.se()
    if pps.redundant_pic_cnt and b.ue() > 0:
        raise Unsupported("redundant slices")
    if kind == _B:
        b.u(1)  # direct_spatial_mv_pred
    active = pps.num_ref_default
    if kind in (_P, _SP, _B) and b.u(1):
        active = (b.ue() + 1, b.ue() + 1 if kind == _B else active[1])
    s.active = (active[0] if kind in (_P, _SP, _B) else 0, active[1] if kind == _B else 0)
    if kind not in (_I, _SI):
        s.mods = (_read_mods(b), _read_mods(b) if kind == _B else [])
    if (pps.weighted_pred and kind in (_P, _SP)) or (pps.weighted_bipred_idc == 1 and kind == _B):
        b.ue()  # luma_log2_weight_denom
        chroma = sps.chroma_array_type != 0
        if chroma:
            b.ue()
        _skip_weights(b, s.active[0], chroma)
        if kind == _B:
            _skip_weights(b, s.active[1], chroma)
    if ref_idc:
        if s.idr:
            b.u(1)  # no_output_of_prior_pics
            if b.u(1):
                raise Unsupported("long-term references")
        elif b.u(1):  # adaptive_ref_pic_marking_mode_flag
            s.mmco = []
            while (op := b.ue()) != 0:
                if op != 1 and op != 4:
                    raise Unsupported(f"memory management operation {op}")
                s.mmco.append((op, b.ue()))
    if pps.cabac and kind not in (_I, _SI):
        b.ue()  # cabac_init_idc
    b.se()  # slice_qp_delta
    if kind in (_SP, _SI):
        if kind == _SP:
            b.u(1)
        b.se()
    if pps.deblocking_control and b.ue() != 1:
        b.se()
        b.se()
    s.header_bytes = _escaped_length(nal, (b.pos + 7) // 8)
    return s


def _escaped_length(nal: bytes, rbsp_bytes: int) -> int:
    """Bytes of ``nal`` (header byte and emulation-prevention bytes included) holding ``rbsp_bytes``."""
    pos, got, zeros = 1, 0, 0
    while got < rbsp_bytes and pos < len(nal):
        byte = nal[pos]
        pos += 1
        if zeros >= 2 and byte == 3:
            zeros = 0
            continue
        zeros = zeros + 1 if byte == 0 else 0
        got += 1
    return pos


def avcc_nals(data: bytes | memoryview, length_size: int) -> list[bytes]:
    """The NAL units of a length-prefixed packet (empty when it does not parse)."""
    view = memoryview(data)
    out: list[bytes] = []
    pos = 0
    while pos + length_size <= len(view):
        n = int.from_bytes(view[pos : pos + length_size], "big")
        pos += length_size
        if n <= 0 or pos + n > len(view):
            return []
        out.append(bytes(view[pos : pos + n]))
        pos += n
    return out if pos == len(view) else []


def header_view(data: bytes | memoryview, length_size: int) -> bytes:
    """The packet re-packed with only what :func:`plan_cuts` reads.

    Slice NALs are cut to their first :data:`HEAD_BYTES`, parameter sets kept whole, other NAL
    units kept as their header byte.

    Examples:
        >>> sei = bytes([0x06]) + bytes(500)
        >>> len(header_view(len(sei).to_bytes(4, "big") + sei, 4))
        5

    """
    out = bytearray()
    for nal in avcc_nals(data, length_size):
        t = nal[0] & 0x1F
        part = nal[:HEAD_BYTES] if t in (1, 5) else nal if t in (7, 8) else nal[:1]
        out += len(part).to_bytes(length_size, "big") + part
    return bytes(out)


def avcc_parameter_sets(extradata: bytes) -> list[bytes]:
    """SPS and PPS NAL units of an ``avcC`` record."""
    out: list[bytes] = []
    pos = 5
    for count_mask in (0x1F, 0xFF):
        if pos >= len(extradata):
            break
        count = extradata[pos] & count_mask
        pos += 1
        for _ in range(count):
            n = int.from_bytes(extradata[pos : pos + 2], "big")
            out.append(bytes(extradata[pos + 2 : pos + 2 + n]))
            pos += 2 + n
    return out


@dataclass
class _Ref:
    key: int  # the packet's timestamp
    frame_num: int
    poc: int


def plan_cuts(
    extradata: bytes, length_size: int, packets: Iterable[tuple[int, bytes]], wanted: set[int]
) -> dict[int, tuple[int, ...]] | None:
    """The reference pictures that no wanted picture needs, or ``None`` (a stream outside the model).

    Returns:
        Per such picture (by timestamp; IDR pictures are never cut), the header bytes of each of
        its slice NAL units, for :func:`cut_packet`.

    Args:
        extradata: The stream's ``avcC`` record.
        length_size: Bytes of each NAL length prefix.
        packets: ``(pts, data)`` of every packet in decode order (slice NALs may be cut to their
            first few hundred bytes: only headers are read).
        wanted: Timestamps of the wanted pictures.

    Examples:
        >>> plan_cuts(b"", 4, [], set()) is None
        True

    """
    try:
        return _plan(extradata, length_size, packets, wanted)
    except (Unsupported, IndexError, ValueError):  # IndexError, ValueError: malformed parameter sets or slices
        return None


def _plan(
    extradata: bytes, length_size: int, packets: Iterable[tuple[int, bytes]], wanted: set[int]
) -> dict[int, tuple[int, ...]]:
    sps_map: dict[int, _SPS] = {}
    pps_map: dict[int, _PPS] = {}

    def param(nal: bytes) -> None:
        t = nal[0] & 0x1F
        if t == 7:
            i, sps = parse_sps(nal)
            sps_map[i] = sps
        elif t == 8:
            j, pps = parse_pps(nal)
            pps_map[j] = pps

    if not extradata:
        raise Unsupported("no avcC record")
    for nal in avcc_parameter_sets(extradata):
        param(nal)
    dpb: list[_Ref] = []
    refs_of: list[tuple[int, set[int], tuple[int, ...] | None]] = []  # (pts, may refer to, header bytes if a reference)
    prev_msb = prev_lsb = 0
    prev_ref_frame_num: int | None = None
    for pts, data in packets:
        nals = avcc_nals(data, length_size)
        if not nals:
            raise Unsupported("packet not in AVCC layout")
        slices: list[_Slice] = []
        for nal in nals:
            t = nal[0] & 0x1F
            if t in (7, 8):
                param(nal)
            elif t in (1, 5):
                slices.append(parse_slice(nal, sps_map, pps_map))
            elif t in (2, 3, 4, 20):
                raise Unsupported(f"NAL unit type {t}")
        if not slices:
            raise Unsupported("packet without a slice")
        s = slices[0]
        sps = s.sps
        max_fn = 1 << sps.log2_max_frame_num
        if s.idr:
            dpb, prev_msb, prev_lsb, prev_ref_frame_num = [], 0, 0, None
        elif prev_ref_frame_num is not None and s.frame_num not in (
            prev_ref_frame_num,
            (prev_ref_frame_num + 1) % max_fn,
        ):
            raise Unsupported("gap in frame_num")
        msb, poc = _poc(s, prev_msb, prev_lsb)
        cur = _Ref(pts, s.frame_num, poc)
        needs: set[int] = set()
        for sl in slices:
            needs |= _slice_refs(sl, dpb, cur, max_fn)
        refs_of.append((pts, needs, tuple(sl.header_bytes for sl in slices) if s.ref_idc and not s.idr else None))
        if s.ref_idc:
            prev_msb, prev_lsb = msb, s.poc_lsb
            _mark(s, dpb, cur, max_fn, sps.max_num_ref_frames)
            prev_ref_frame_num = s.frame_num
    needed = set(wanted)
    for pts, needs, _ in reversed(refs_of):
        if pts in needed:
            needed |= needs
    return {pts: heads for pts, _, heads in refs_of if heads is not None and pts not in needed}


def _poc(s: _Slice, prev_msb: int, prev_lsb: int) -> tuple[int, int]:
    """``(PicOrderCntMsb, picture order count)`` of a frame (clause 8.2.1.1; type 2 needs none)."""
    if s.sps.poc_type == 2:
        return 0, 0  # output order is decode order: only P and I pictures
    max_lsb = 1 << s.sps.log2_max_poc_lsb
    if s.poc_lsb < prev_lsb and prev_lsb - s.poc_lsb >= max_lsb // 2:
        msb = prev_msb + max_lsb
    elif s.poc_lsb > prev_lsb and s.poc_lsb - prev_lsb > max_lsb // 2:
        msb = prev_msb - max_lsb
    else:
        msb = prev_msb
    top = msb + s.poc_lsb
    return msb, min(top, top + s.delta_bottom)


def _wrap(r: _Ref, cur: _Ref, max_fn: int) -> int:
    return r.frame_num - max_fn if r.frame_num > cur.frame_num else r.frame_num


def _slice_refs(s: _Slice, dpb: Sequence[_Ref], cur: _Ref, max_fn: int) -> set[int]:
    if s.kind in (_I, _SI):
        return set()
    if s.kind == _B:
        if s.sps.poc_type == 2:
            raise Unsupported("B slices with POC type 2")
        before = sorted((r for r in dpb if r.poc < cur.poc), key=lambda r: -r.poc)
        after = sorted((r for r in dpb if r.poc > cur.poc), key=lambda r: r.poc)
        lists = [before + after, after + before]
        if len(lists[1]) > 1 and lists[1] == lists[0]:
            lists[1][0], lists[1][1] = lists[1][1], lists[1][0]
    else:
        lists = [sorted(dpb, key=lambda r: -_wrap(r, cur, max_fn)), []]
    out: set[int] = set()
    for lst, mods, n in zip(lists, s.mods, s.active, strict=True):
        pred = cur.frame_num
        for idx, (idc, value) in enumerate(mods):
            diff = value + 1
            no_wrap = pred - diff if idc == 0 else pred + diff
            no_wrap = no_wrap + max_fn if no_wrap < 0 else no_wrap - max_fn if no_wrap >= max_fn else no_wrap
            pred = no_wrap
            pic_num = no_wrap - max_fn if no_wrap > cur.frame_num else no_wrap
            match = [r for r in dpb if _wrap(r, cur, max_fn) == pic_num]
            if not match:
                raise Unsupported("list modification names a picture not held")
            lst[idx:] = [match[0], *(r for r in lst[idx:] if r is not match[0])]
        out |= {r.key for r in lst[:n]}
    return out


def _mark(s: _Slice, dpb: list[_Ref], cur: _Ref, max_fn: int, max_refs: int) -> None:
    if s.idr:
        dpb[:] = [cur]
        return
    if s.mmco is not None:
        for op, value in s.mmco:
            if op == 1:
                pic_num = cur.frame_num - (value + 1)
                dpb[:] = [r for r in dpb if _wrap(r, cur, max_fn) != pic_num]
    elif len(dpb) >= max(max_refs, 1):
        dpb.remove(min(dpb, key=lambda r: _wrap(r, cur, max_fn)))
    dpb.append(cur)


def cut_packet(data: bytes | memoryview, length_size: int, heads: tuple[int, ...]) -> bytes | None:
    """The packet with each slice NAL cut two bytes past its header, or ``None`` when it changed shape.

    Examples:
        >>> nal = bytes([0x21, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE])  # a reference slice, 6 bytes
        >>> cut_packet(len(nal).to_bytes(4, "big") + nal, 4, (2,)).hex()
        '0000000421aabbcc'

    """
    out = bytearray()
    k = 0
    for nal in avcc_nals(data, length_size):
        if nal[0] & 0x1F in (1, 5):
            if k >= len(heads):
                return None
            nal = nal[: heads[k] + 2]
            k += 1
        out += len(nal).to_bytes(length_size, "big") + nal
    return bytes(out) if k == len(heads) else None
