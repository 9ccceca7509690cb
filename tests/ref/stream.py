"""stream.py - read and write the tensor stream format from Python (tests only).

A stream is a concatenation of msgpack maps, one per record:
    {"id": str, <name>: tensor, ..., "meta": {...}, <other>: any}
A tensor is {"dtype": "u8"|"i16"|"u16"|"i32"|"f32", "shape": [...],
"data": bin}, little-endian, row-major.

read_stream(path_or_file) -> list of dicts; tensors become numpy arrays
(shape kept), everything else stays as msgpack decoded it (str, int, float,
list, dict).  write_stream(records, path_or_file) does the reverse: numpy
arrays become tensors (their dtype must be one of the five).

Deliberately small: no streaming API, no validation beyond what decoding needs
(a truncated stream raises ValueError).  Usable as a script:
    python3 stream.py FILE      prints one line per record (id, fields, meta)
"""
import sys

import msgpack
import numpy as np

DTYPES = {"u8": "<u1", "i16": "<i2", "u16": "<u2", "i32": "<i4", "f32": "<f4"}
KINDS = {("u", 1): "u8", ("i", 2): "i16", ("u", 2): "u16", ("i", 4): "i32",
         ("f", 4): "f32"}


def dtype_name(dt):
    """The stream's name for a numpy dtype ("u8", ...), None if it has none."""
    dt = np.dtype(dt)
    return KINDS.get((dt.kind, dt.itemsize))


def _is_tensor(v):
    return (isinstance(v, dict) and set(v) == {"dtype", "shape", "data"}
            and v["dtype"] in DTYPES and isinstance(v["data"], bytes))


def _to_array(v):
    shape = tuple(int(d) for d in v["shape"])
    a = np.frombuffer(v["data"], dtype=DTYPES[v["dtype"]])
    if a.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError("tensor data holds %d elements, shape %s wants %d"
                         % (a.size, shape, int(np.prod(shape))))
    return a.reshape(shape).copy()


def _from_array(a):
    a = np.asarray(a)
    key = dtype_name(a.dtype)
    if key is None:
        raise ValueError("dtype %s is not one of %s" % (a.dtype, list(DTYPES)))
    return {"dtype": key, "shape": list(a.shape),
            "data": np.ascontiguousarray(a, dtype=DTYPES[key]).tobytes()}


def read_stream(src):
    """All records of a stream (path, '-' for stdin, bytes, or binary file)."""
    if isinstance(src, (bytes, bytearray)):
        data = bytes(src)
    elif isinstance(src, str):
        if src == "-":
            data = sys.stdin.buffer.read()
        else:
            with open(src, "rb") as f:
                data = f.read()
    else:
        data = src.read()
    unp = msgpack.Unpacker(raw=False, strict_map_key=False,
                           max_buffer_size=max(len(data), 1 << 20))
    unp.feed(data)
    out = []
    try:
        for rec in unp:
            if not isinstance(rec, dict):
                raise ValueError("record %d is not a map" % len(out))
            out.append({k: (_to_array(v) if _is_tensor(v) else v)
                        for k, v in rec.items()})
    except msgpack.OutOfData:
        raise ValueError("truncated record %d" % len(out))
    if unp.tell() != len(data):
        raise ValueError("truncated record %d" % len(out))
    return out


def write_stream(records, dst):
    """Writes records (dicts; numpy arrays become tensors) to a path or file."""
    parts = []
    for rec in records:
        if "id" not in rec:
            raise ValueError("record without id")
        parts.append(msgpack.packb(
            {k: (_from_array(v) if isinstance(v, np.ndarray) else v)
             for k, v in rec.items()}, use_bin_type=True))
    blob = b"".join(parts)
    if isinstance(dst, str):
        if dst == "-":
            sys.stdout.buffer.write(blob)
            sys.stdout.buffer.flush()
        else:
            with open(dst, "wb") as f:
                f.write(blob)
    else:
        dst.write(blob)


def main(argv):
    for rec in read_stream(argv[1] if len(argv) > 1 else "-"):
        fields = ["%s:%s:%s" % (k, dtype_name(v.dtype),
                                "x".join(map(str, v.shape)))
                  for k, v in rec.items() if isinstance(v, np.ndarray)]
        print(rec.get("id"), " ".join(fields), rec.get("meta", {}))


if __name__ == "__main__":
    main(sys.argv)
