"""Tests of the image folder audit, safe image reading, leak-free splits, arrays and pipelines."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from jewelnet_utils import cli
from jewelnet_utils.contracts import decode, thesis
from jewelnet_utils.contracts.config import CLASSES, JewelNetError
from jewelnet_utils.images import audit
from jewelnet_utils.split import pipeline, splitting

# Thesis Table 4.1 per class: the originals, and the (train, val, test) split of each.
THESIS_COUNTS = {cls: row["original"] for cls, row in thesis.TABLE_4_1_CLASSES.values().items()}
TABLE_4_1 = {cls: (row["train"], row["val"], row["test"])
             for cls, row in thesis.TABLE_4_1_CLASSES.values().items()}


@pytest.fixture(autouse=True)
def _fresh_cache():
    pipeline.clear_cache()
    yield
    pipeline.clear_cache()


def _write_gray_png(path: Path, width: int, height: int, value: int = 0) -> Path:
    """A solid 8-bit grayscale PNG written row by row: a 10,000 x 10,000 file costs ~100 kB."""
    def chunk(tag: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + tag + payload
                + struct.pack(">I", zlib.crc32(tag + payload) & 0xFFFFFFFF))

    comp = zlib.compressobj(6)
    row = b"\x00" + bytes([value]) * width
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


def _problem(path: Path) -> decode.ImageProblem:
    with pytest.raises(decode.ImageProblem) as info:
        decode.load_image(path)
    assert str(path) in str(info.value)  # the message names the file
    return info.value


# ------------------------------------------------------------------------------------------
# load_image
# ------------------------------------------------------------------------------------------


def test_load_rgb_png(write_image, tmp_path):
    path = write_image(tmp_path / "a.png", size=(50, 40))
    arr = decode.load_image(path)
    assert arr.shape == (40, 50, 3) and arr.dtype == np.uint8
    assert decode.load_image(path, size=24).shape == (24, 24, 3)


@pytest.mark.parametrize(
    ("mode", "name", "kinds"),
    [
        ("L", "gray.png", ["grayscale"]),
        ("1", "bw.png", ["grayscale"]),
        ("LA", "gray_alpha.png", ["grayscale", "rgba/palette"]),
        ("RGBA", "rgba.png", ["rgba/palette"]),
        ("P", "palette.png", ["rgba/palette"]),
        ("CMYK", "cmyk.jpg", ["cmyk"]),
        ("CMYK", "cmyk.tif", ["cmyk"]),
    ],
)
def test_odd_modes_are_converted(write_image, tmp_path, mode, name, kinds):
    path = write_image(tmp_path / name, size=(48, 36), mode=mode)
    arr = decode.load_image(path)
    assert arr.shape == (36, 48, 3) and arr.dtype == np.uint8
    img, found = decode.open_rgb(path)
    assert img.mode == "RGB" and found == kinds


def test_transparency_is_composited_on_white(tmp_path):
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[:20, :, :] = (255, 0, 0, 255)  # opaque red top half, transparent black bottom half
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    arr = decode.load_image(tmp_path / "t.png")
    assert tuple(arr[5, 5]) == (255, 0, 0) and tuple(arr[35, 5]) == (255, 255, 255)

    pal = Image.fromarray(rgba[..., :3], "RGB").convert("P")
    index_black = pal.getpixel((5, 35))
    pal.save(tmp_path / "p.png", transparency=index_black)
    arr = decode.load_image(tmp_path / "p.png")
    assert tuple(arr[35, 5]) == (255, 255, 255) and tuple(arr[5, 5]) == (255, 0, 0)


def test_sixteen_bit_is_scaled_to_eight(tmp_path):
    values = np.zeros((40, 40), np.uint16)
    values[:, 20:] = 65535
    values[:, 10:20] = 32896  # 128 * 257
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode.startswith("I")
    arr = decode.load_image(tmp_path / "deep.png")
    assert arr.dtype == np.uint8 and arr.shape == (40, 40, 3)
    assert tuple(arr[0, 0]) == (0, 0, 0)
    assert tuple(arr[0, 15]) == (128, 128, 128)
    assert tuple(arr[0, 30]) == (255, 255, 255)
    assert decode.open_rgb(tmp_path / "deep.png")[1] == ["16-bit", "grayscale"]


def test_exif_rotation_swaps_width_and_height(write_image, tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = write_image(tmp_path / "rot.jpg", size=(64, 40), exif=exif.tobytes())
    assert Image.open(path).size == (64, 40)
    arr = decode.load_image(path)
    assert arr.shape == (64, 40, 3)
    assert decode.open_rgb(path)[1] == ["exif-rotated"]


def test_corrupt_jpeg_is_rejected(write_image, tmp_path):
    good = write_image(tmp_path / "good.jpg", size=64).read_bytes()
    header_end = good.find(b"\xff\xda") + 14  # start of scan: header complete, then garbage
    noise = np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good[:header_end] + noise)
    assert "corrupt or truncated" in _problem(bad).reason


def test_truncated_png_is_rejected(write_image, tmp_path):
    full = write_image(tmp_path / "full.png", size=64).read_bytes()
    cut = tmp_path / "cut.png"
    cut.write_bytes(full[: len(full) // 2])
    assert "corrupt or truncated" in _problem(cut).reason


def test_text_file_and_empty_file_are_not_images(tmp_path):
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a photo\n")
    assert _problem(text).reason.startswith("not an image")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert _problem(empty).reason == "not an image (empty file)"
    assert audit._inspect_file(tmp_path, "c", "empty.png").reason == "not an image (empty file)"


def test_missing_file_and_folder(tmp_path):
    assert _problem(tmp_path / "nope.png").reason == "file not found"
    (tmp_path / "dir.png").mkdir()
    assert _problem(tmp_path / "dir.png").reason == "not a regular file"


def test_tiny_image_is_rejected_with_size(tmp_path):
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    reason = _problem(tmp_path / "dot.png").reason
    assert reason.startswith("too small (1x1 px")
    Image.new("RGB", (32, 32)).save(tmp_path / "ok.png")
    assert decode.load_image(tmp_path / "ok.png").shape == (32, 32, 3)


def test_huge_png_gets_a_clear_message_without_decoding(tmp_path, monkeypatch):
    small = _write_gray_png(tmp_path / "small.png", 64, 48, value=200)
    assert decode.load_image(small)[0, 0].tolist() == [200, 200, 200]  # the writer makes real PNGs
    big = _write_gray_png(tmp_path / "big.png", 10_000, 10_000)
    assert big.stat().st_size < 1_000_000

    class Decoded(BaseException):  # not an Exception: no handler in the audit can swallow it
        pass

    def forbidden(self, *args, **kwargs):
        raise Decoded(f"{self.size} pixels decoded")

    # The 100-megapixel bitmap must be refused from the header alone: decoding is forbidden.
    monkeypatch.setattr(ImageFile.ImageFile, "load", forbidden)
    reason = _problem(big).reason
    assert reason.startswith("too large (10000x10000 px") and "downscale" in reason
    with pytest.raises(Decoded):  # the trap works: a small file does get decoded
        decode.load_image(small)


def test_pillow_bomb_limit_becomes_a_message(write_image, tmp_path, monkeypatch):
    path = write_image(tmp_path / "bomb.png", size=48)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 48 x 48 > 2 x 1000: Pillow refuses
    reason = _problem(path).reason
    assert reason.startswith("too large to decode safely") and "downscale" in reason


def test_huge_jpeg_is_decoded_at_reduced_scale(write_image, tmp_path, monkeypatch):
    path = write_image(tmp_path / "wide.jpg", size=(1000, 800))
    monkeypatch.setattr(decode, "MAX_DECODE_PIXELS", 100_000)
    arr = decode.load_image(path)
    assert arr.shape == (200, 250, 3)  # JPEG draft at 1/4 scale


def test_names_with_spaces_and_accents(write_image, tmp_path):
    path = write_image(tmp_path / "bagues dorées" / "bague dorée 1.png")
    assert decode.load_image(path).shape == (48, 48, 3)


# ------------------------------------------------------------------------------------------
# audit_dataset
# ------------------------------------------------------------------------------------------


def test_audit_clean_folder(make_image_folder):
    root = make_image_folder({"Ring": 4, "bangle": 3, "Earring": 5})
    report = audit.audit_dataset(root)
    assert report.usable and report.problem is None
    assert report.classes == ["bangle", "earring", "ring"]  # thesis order, not folder order
    assert report.counts["earring"] == {"folders": ["Earring"], "files": 5, "usable": 5,
                                        "unusable": 0}
    assert report.unusable == [] and report.exact_duplicates == [] == report.near_duplicates
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["usable"] is True and len(as_json["files"]) == 12


def test_audit_reports_bad_files_and_conversions(make_image_folder, write_image, tmp_path):
    root = make_image_folder({"bangle": 4, "ring": 4})
    (root / "ring" / "readme.jpg").write_text("text")
    (root / "ring" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    Image.new("RGB", (1, 1)).save(root / "ring" / "dot.png")
    write_image(root / "bangle" / "gray.png", mode="L", seed=11)
    write_image(root / "bangle" / "cmyk.jpg", mode="CMYK", seed=12)
    (root / "notes.txt").write_text("top-level file")
    (root / ".ipynb_checkpoints").mkdir()
    (root / "ring" / "nested").mkdir()
    report = audit.audit_dataset(root)
    assert report.usable  # bad files are skipped, every class still has >= 3 good images
    reasons = {u["path"]: u["reason"] for u in report.unusable}
    assert set(reasons) == {"ring/readme.jpg", "ring/.DS_Store", "ring/dot.png"}
    assert reasons["ring/readme.jpg"].startswith("not an image")
    assert reasons["ring/dot.png"].startswith("too small (1x1 px")
    assert report.conversions == {"grayscale": 1, "rgba/palette": 0, "cmyk": 1, "16-bit": 0,
                                  "exif-rotated": 0}
    assert report.counts["ring"]["unusable"] == 3 and report.counts["bangle"]["usable"] == 6
    ignored = {i["path"] for i in report.ignored}
    assert ignored == {"notes.txt", "ring/nested"}


def test_folder_names_are_normalised_and_merged(make_image_folder):
    root = make_image_folder({"Nose Pin": 2, "nose-pin": 1, "nose_pin": 1, "Ring": 3})
    report = audit.audit_dataset(root)
    assert report.classes == ["ring", "nose_pin"]
    assert report.counts["nose_pin"]["files"] == 4
    assert report.counts["nose_pin"]["folders"] == ["Nose Pin", "nose-pin", "nose_pin"]
    assert any("merged into class 'nose_pin'" in n for n in report.notes)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"bangle": 4, "ring": 0}, "class folder 'ring' in {root} is empty"),
        ({"bangle": 4}, "data folder {root} has only one class folder ('bangle'); "
                        "at least 2 classes are needed"),
        ({"bangle": 4, "ring": 2}, "class 'ring' has only 2 usable images (at least 3 are "
                                   "needed, one per split)"),
        ({}, "data folder {root} has no class folders (expected one sub-folder of photos per "
             "class)"),
    ],
)
def test_unusable_datasets(make_image_folder, counts, expected):
    root = make_image_folder(counts)
    report = audit.audit_dataset(root)
    assert not report.usable
    assert report.problem == expected.format(root=root)


def test_missing_or_file_data_dir(tmp_path):
    assert audit.audit_dataset(tmp_path / "nope").problem == (
        f"data folder {tmp_path / 'nope'} does not exist")
    (tmp_path / "f").write_text("x")
    problem = audit.audit_dataset(tmp_path / "f").problem
    assert problem == f"data path {tmp_path / 'f'} is not a folder"


def test_loose_photos_get_a_hint(write_image, tmp_path):
    for i in range(3):
        write_image(tmp_path / "flat" / f"{i}.png", seed=i)
    assert audit.audit_dataset(tmp_path / "flat").problem.endswith(
        "(expected one sub-folder of photos per class; it holds 3 loose files)")


def test_many_problems_are_one_sentence(make_image_folder):
    root = make_image_folder({"a": 1, "b": 1, "c": 1, "d": 1, "e": 0})
    problem = audit.audit_dataset(root).problem
    assert "\n" not in problem and problem.endswith("and 2 more problems (see the audit report)")


def test_hash_threshold_is_validated(make_image_folder):
    root = make_image_folder(3)
    for bad in (-1, 65, 2.5, True):
        with pytest.raises(JewelNetError, match="hash threshold"):
            audit.audit_dataset(root, hash_threshold=bad)


def _plant_duplicates(root: Path) -> tuple[str, str, str, str]:
    """An exact copy and a resized JPEG re-encode in 'bangle'; returns the four paths."""
    shutil.copy(root / "bangle" / "0000.png", root / "bangle" / "copy of 0000.png")
    img = Image.open(root / "bangle" / "0001.png").convert("RGB")
    img.resize((44, 44), Image.Resampling.BILINEAR).save(root / "bangle" / "resaved.jpg",
                                                          quality=80)
    return ("bangle/0000.png", "bangle/copy of 0000.png", "bangle/0001.png", "bangle/resaved.jpg")


def test_duplicates_are_found(make_image_folder):
    root = make_image_folder({"bangle": 12, "ring": 12}, size=48)
    exact_a, exact_b, near_a, near_b = _plant_duplicates(root)
    report = audit.audit_dataset(root)
    assert report.exact_duplicates == [[exact_a, exact_b]]
    assert report.near_duplicates == [[near_a, near_b]]
    # The threshold is inclusive: the pair is found at its own Hamming distance, not below it.
    hashes = {rec.path: int(rec.phash, 16) for rec in report.files}
    distance = bin(hashes[near_a] ^ hashes[near_b]).count("1")
    assert audit.audit_dataset(root, hash_threshold=distance).near_duplicates == [[near_a, near_b]]
    pairs = audit._near_pairs(np.array([0, 0b1111, 2**64 - 1], dtype=np.uint64), 4)
    assert pairs.tolist() == [[0, 1]]
    assert audit._near_pairs(np.array([0, 0b1111], dtype=np.uint64), 3).tolist() == []


def test_oversized_duplicate_group_is_flagged(make_image_folder):
    # With the loosest threshold and the hash alone (no object check) every image "matches":
    # one big group, and a note saying so.
    root = make_image_folder({"ring": 14, "bangle": 3})
    report = audit.audit_dataset(root, hash_threshold=64, confirm=False)
    assert len(report.near_duplicates) == 1 and len(report.near_duplicates[0]) == 17
    assert any("largest duplicate group holds 17 images" in n for n in report.notes)


@pytest.mark.parametrize("numpy_1", [False, True], ids=["numpy", "numpy-1-popcount"])
def test_near_pairs_matches_brute_force(numpy_1, monkeypatch):
    if numpy_1:  # NumPy 1.26 (the tested range's low end) has no bitwise_count
        monkeypatch.delattr(np, "bitwise_count", raising=False)
    rng = np.random.default_rng(3)
    hashes = rng.integers(0, 2**63, 300, dtype=np.uint64)
    hashes[7] = hashes[3] ^ np.uint64(0b1011)  # 3 bits apart
    hashes[9] = hashes[3] ^ np.uint64(0b111 << 61)  # 3 bits apart, in the top byte
    hashes[11] = hashes[3] ^ np.uint64(0b11111 << 59)  # 5 bits apart, in the top bytes
    pairs = {tuple(p) for p in audit._near_pairs(hashes, 4, block=64).tolist()}
    brute = {(i, j) for i in range(300) for j in range(i + 1, 300)
             if bin(int(hashes[i]) ^ int(hashes[j])).count("1") <= 4}
    assert pairs == brute and {(3, 7), (3, 9)} <= pairs and (3, 11) not in pairs


# ------------------------------------------------------------------------------------------
# Splits
# ------------------------------------------------------------------------------------------


def test_split_sizes_reproduce_table_4_1():
    for cls, n in THESIS_COUNTS.items():
        assert splitting.split_sizes(n) == TABLE_4_1[cls], cls
    totals = np.sum([splitting.split_sizes(n) for n in THESIS_COUNTS.values()], axis=0)
    assert totals.tolist() == [thesis.TABLE_4_1.value(k) for k in ("train", "val", "test")]


def test_split_sizes_small_classes_get_one_each():
    assert splitting.split_sizes(3) == (1, 1, 1)
    assert splitting.split_sizes(4) == (2, 1, 1)
    assert splitting.split_sizes(10) == (7, 1, 2)
    assert splitting.split_sizes(2) == (1, 0, 1)
    assert sum(splitting.split_sizes(1000, (0.5, 0.3, 0.2))) == 1000
    assert splitting.split_sizes(1000, (0.5, 0.3, 0.2)) == (500, 300, 200)


@pytest.mark.parametrize("ratios", [(0.7, 0.2, 0.2), (0.7, 0.3, 0.0), (0.5, 0.5), (1, -0.5, 0.5),
                                    ("a", "b", "c")])
def test_bad_ratios_are_named(ratios):
    with pytest.raises(JewelNetError, match="split ratios must be three"):
        splitting.split_sizes(10, ratios)


def test_thesis_counts_end_to_end(make_image_folder):
    root = make_image_folder(THESIS_COUNTS, size=32)
    manifest = splitting.make_split(root)
    assert manifest["classes"] == list(CLASSES)
    for cls in CLASSES:
        got = [sum(1 for f in manifest["files"] if f["class"] == cls and f["split"] == s)
               for s in splitting.SPLITS]
        assert tuple(got) == TABLE_4_1[cls], cls
    table = splitting.format_split_table(manifest)
    assert table.splitlines()[-1].split() == ["Total", "1217", "851", "181", "185"]
    assert "Nose Pin" in table


def test_split_is_deterministic_and_byte_identical(make_image_folder, tmp_path):
    root = make_image_folder({"bangle": 10, "ring": 11, "Nose Pin": 9})
    a = splitting.save_manifest(splitting.make_split(root, seed=7), tmp_path / "a.json")
    pipeline.clear_cache()
    b = splitting.save_manifest(splitting.make_split(root, seed=7), tmp_path / "b.json")
    a, b = a.read_bytes(), b.read_bytes()
    assert a == b
    c = splitting.make_split(root, seed=8)
    assert [f["split"] for f in c["files"]] != [f["split"] for f in json.loads(a)["files"]]
    manifest = json.loads(a)
    assert list(manifest) == ["version", "data_dir", "seed", "ratios", "hash_threshold",
                              "classes", "files", "skipped"]
    assert manifest["files"][0] == {
        "path": "bangle/0000.png", "class": "bangle",
        "split": manifest["files"][0]["split"],
        "sha256": hashlib.sha256((root / "bangle" / "0000.png").read_bytes()).hexdigest(),
    }


def test_split_is_stratified(make_image_folder):
    counts = {"bangle": 20, "ring": 13, "chain": 7}
    root = make_image_folder(counts)
    manifest = splitting.make_split(root, seed=3)
    for cls, n in counts.items():
        got = tuple(sum(1 for f in manifest["files"] if f["class"] == cls and f["split"] == s)
                    for s in splitting.SPLITS)
        assert got == splitting.split_sizes(n)


def test_duplicates_never_straddle_splits(make_image_folder):
    root = make_image_folder({"bangle": 12, "ring": 12}, size=48)
    exact_a, exact_b, near_a, near_b = _plant_duplicates(root)
    shutil.copy(root / "bangle" / "0005.png", root / "ring" / "mislabelled.png")
    for seed in range(8):
        where = {f["path"]: f["split"] for f in splitting.make_split(root, seed=seed)["files"]}
        assert where[exact_a] == where[exact_b]
        assert where[near_a] == where[near_b]
        assert where["bangle/0005.png"] == where["ring/mislabelled.png"]
        assert set(where.values()) == {"train", "val", "test"}


def test_a_class_split_does_not_depend_on_the_other_classes(make_image_folder, tmp_path):
    """Adding, removing or resizing other classes never moves a file of this class."""
    few = make_image_folder({"bangle": 6, "chain": 5, "ring": 11}, root=tmp_path / "a")
    many = make_image_folder({"bangle": 13, "chain": 5, "ring": 11, "earring": 7},
                             root=tmp_path / "b")
    for name in ("chain", "ring"):  # same folder, index and position: the same bytes in both
        for path in (few / name).iterdir():
            assert path.read_bytes() == (many / name / path.name).read_bytes()

    def where(root: Path, cls: str) -> dict[str, str]:
        return {f["path"]: f["split"] for f in splitting.make_split(root, seed=11)["files"]
                if f["class"] == cls}

    assert where(few, "ring") == where(many, "ring")
    assert where(few, "chain") == where(many, "chain")


def _record(path: str, cls: str, phash: int) -> audit.FileRecord:
    return audit.FileRecord(path=path, class_name=cls, usable=True, sha256=path,
                           phash=f"{phash:016x}")


def _far_apart_hashes(count: int, seed: int = 0) -> list[int]:
    """Random 64-bit hashes, every pair more than 8 bits apart (so none are near-duplicates)."""
    rng = np.random.default_rng(seed)
    found: list[int] = []
    while len(found) < count:
        h = int(rng.integers(0, 2**63)) | 1 << 40
        if all(bin(h ^ other).count("1") > 8 for other in found):
            found.append(h)
    return found


def test_near_duplicate_groups_merge_transitively():
    """A ~ B (3 bits) and B ~ C (3 bits) at threshold 4, while A and C are 6 bits apart:
    A, B and C are one group and land in one subset."""
    a, b, c = 0, 0b111, 0b111111
    records = [_record("ring/a.png", "ring", a), _record("ring/b.png", "ring", b),
               _record("ring/c.png", "ring", c)]
    records += [_record(f"ring/{i:02d}.png", "ring", h) for i, h in
                enumerate(_far_apart_hashes(17))]
    # Grouping is tested on the hash graph alone; the object check has its own tests.
    report = audit.AuditReport(data_dir="x", hash_threshold=4, classes=["ring"], files=records,
                              confirm=False)
    audit._group_duplicates(report)
    assert report.near_duplicates == [["ring/a.png", "ring/b.png", "ring/c.png"]]
    assert records[0].group == records[1].group == records[2].group is not None
    for seed in range(10):
        assigned = splitting._assign_splits(records, ["ring"], seed, splitting.DEFAULT_RATIOS)
        assert assigned["ring/a.png"] == assigned["ring/b.png"] == assigned["ring/c.png"]


def test_an_oversized_group_never_empties_val_or_test():
    """16 of a class's 20 files are one duplicate group: the group fills train and the four
    other files still reach val and test, whatever the seed."""
    hashes = _far_apart_hashes(4, seed=1)
    records = [_record(f"ring/g{i:02d}.png", "ring", 0) for i in range(16)]
    records += [_record(f"ring/s{i}.png", "ring", h) for i, h in enumerate(hashes)]
    report = audit.AuditReport(data_dir="x", hash_threshold=4, classes=["ring"], files=records,
                              confirm=False)
    audit._group_duplicates(report)
    assert len({r.group for r in records[:16]}) == 1
    for seed in range(20):
        assigned = splitting._assign_splits(records, ["ring"], seed, splitting.DEFAULT_RATIOS)
        assert {assigned[r.path] for r in records[:16]} == {"train"}
        assert {"val", "test"} <= set(assigned.values()), seed


def test_unusable_files_are_skipped(make_image_folder):
    root = make_image_folder(4)
    (root / "chain" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    manifest = splitting.make_split(root)
    assert manifest["skipped"] == [{"path": "chain/broken.jpg",
                                    "reason": manifest["skipped"][0]["reason"]}]
    assert "chain/broken.jpg" not in {f["path"] for f in manifest["files"]}


def test_make_split_refuses_unusable_data(make_image_folder):
    root = make_image_folder({"bangle": 5, "ring": 2})
    with pytest.raises(JewelNetError, match="class 'ring' has only 2 usable images"):
        splitting.make_split(root)


def test_manifest_round_trip_and_bad_files(make_image_folder, tmp_path):
    root = make_image_folder(3)
    manifest = splitting.make_split(root)
    path = splitting.save_manifest(manifest, tmp_path / "split.json")
    assert splitting.load_manifest(path) == manifest

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(JewelNetError, match="cannot read .*bad.json as JSON"):
        splitting.load_manifest(bad)
    with pytest.raises(JewelNetError, match="file not found"):
        splitting.load_manifest(tmp_path / "missing.json")
    for mutate, message in [
        (lambda m: m.pop("files"), "missing key 'files'"),
        (lambda m: m.update(version=2), "version 2"),
        (lambda m: m["files"][0].update(split="holdout"), "split 'holdout'"),
        (lambda m: m["files"][0].update(**{"class": "tiara"}), "unknown class 'tiara'"),
        (lambda m: m["files"].append(dict(m["files"][0])), "listed twice"),
        (lambda m: m.update(ratios=[0.9, 0.9, 0.9]), "split ratios"),
    ]:
        broken = json.loads(json.dumps(manifest))
        mutate(broken)
        bad.write_text(json.dumps(broken))
        with pytest.raises(JewelNetError, match=f"bad.json is not a valid split manifest: .*"
                                                f"{message}"):
            splitting.load_manifest(bad)


def test_ensure_split_reuses_or_rebuilds(make_image_folder, tmp_path, write_image):
    root = make_image_folder(4)
    path = tmp_path / "splits" / "split.json"
    first = splitting.ensure_split(root, path, seed=1)
    stamp = path.stat().st_mtime_ns
    assert splitting.ensure_split(root, path, seed=1) == first and path.stat().st_mtime_ns == stamp
    other = splitting.ensure_split(root, path, seed=2)
    assert other["seed"] == 2 and splitting.load_manifest(path)["seed"] == 2
    write_image(root / "chain" / "new.png", seed=99)
    grown = splitting.ensure_split(root, path, seed=2)
    assert "chain/new.png" in {f["path"] for f in grown["files"]}
    path.write_text("garbage")
    assert splitting.ensure_split(root, path, seed=2) == grown
    # Same file names, different pictures (another generated dataset): never reused.
    twin = make_image_folder(4, root=tmp_path / "twin", seed=5)
    moved = splitting.ensure_split(root.rename(tmp_path / "moved"), path, seed=2)
    assert moved["data_dir"] == (tmp_path / "moved").as_posix()
    assert [f["split"] for f in moved["files"]] == [f["split"] for f in grown["files"]]
    (twin / "chain" / "new.png").write_bytes((tmp_path / "moved" / "chain" / "new.png")
                                             .read_bytes())
    shutil.rmtree(tmp_path / "moved")
    (tmp_path / "twin").rename(tmp_path / "moved")
    fresh = splitting.ensure_split(tmp_path / "moved", path, seed=2)
    assert [f["sha256"] for f in fresh["files"]] != [f["sha256"] for f in moved["files"]]


# ------------------------------------------------------------------------------------------
# CLI
# ------------------------------------------------------------------------------------------


def test_cli_audit_usable(make_image_folder, tmp_path, capsys):
    root = make_image_folder({"bangle": 3, "Nose Pin": 3})
    (root / "bangle" / "bague dorée 1.png").write_bytes((root / "bangle" / "0000.png")
                                                         .read_bytes())
    out_json = tmp_path / "reports" / "audit.json"
    assert cli.main(["audit", str(root), "--json", str(out_json)]) == 0
    out = capsys.readouterr().out
    assert "nose_pin" in out and "Usable: yes" in out and "bague dorée 1.png" in out
    report = json.loads(out_json.read_text(encoding="utf-8"))
    assert report["usable"] is True and report["counts"]["bangle"]["usable"] == 4
    assert report["exact_duplicates"] == [["bangle/0000.png", "bangle/bague dorée 1.png"]]


def test_cli_audit_unusable_exits_2_with_one_line(make_image_folder, tmp_path, capsys):
    root = make_image_folder({"bangle": 4, "ring": 0})
    out_json = tmp_path / "audit.json"
    assert cli.main(["audit", str(root), "--json", str(out_json)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err == f"jewelnet audit: error: class folder 'ring' in {root} is empty\n"
    assert json.loads(out_json.read_text())["usable"] is False  # the report is still written

    assert cli.main(["audit", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith("jewelnet audit: error: data folder ")


def test_failed_json_write_keeps_the_old_file(make_image_folder, tmp_path, capsys, monkeypatch):
    root = make_image_folder(3)
    out_json = tmp_path / "audit.json"
    out_json.write_text('{"old": true}\n')

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    assert cli.main(["audit", str(root), "--json", str(out_json)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"jewelnet audit: error: cannot write {out_json}: No space left")
    assert out_json.read_text() == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".audit.json")] == []
    monkeypatch.undo()

    blocker = tmp_path / "blocker"
    blocker.write_text("a regular file where a folder should be")
    assert cli.main(["audit", str(root), "--json", str(blocker / "audit.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_cli_split(make_image_folder, tmp_path, capsys):
    root = make_image_folder({"bangle": 10, "ring": 7})
    out = tmp_path / "split.json"
    assert cli.main(["split", str(root), "--out", str(out), "--seed", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["Category", "Original", "Train", "Val", "Test"]
    assert lines[3].split() == ["Total", "17", "12", "2", "3"]
    assert splitting.load_manifest(out)["seed"] == 5

    assert cli.main(["split", str(root), "--out", str(out), "--ratios", "0.8", "0.1", "0.2"]) == 2
    err = capsys.readouterr().err
    assert err == ("jewelnet split: error: split ratios must be three positive numbers summing "
                   "to 1, got [0.8, 0.1, 0.2]\n")
    assert splitting.load_manifest(out)["seed"] == 5  # untouched


# ------------------------------------------------------------------------------------------
# Arrays and pipelines
# ------------------------------------------------------------------------------------------


def test_load_split_arrays(make_image_folder, tmp_path):
    root = make_image_folder({"bangle": 10, "ring": 10, "chain": 10})
    manifest = splitting.make_split(root)
    arrays = pipeline.load_split_arrays(manifest, "train", 24)
    assert arrays.images.shape == (21, 24, 24, 3) and arrays.images.dtype == np.uint8
    assert arrays.labels.dtype == np.int32 and arrays.labels.tolist().count(2) == 7
    assert arrays.classes == ["bangle", "chain", "ring"]
    assert all(p.startswith(("bangle/", "chain/", "ring/")) for p in arrays.paths)
    assert not arrays.images.flags.writeable
    again = pipeline.load_split_arrays(manifest, "train", 24)
    assert again.images is arrays.images  # decoded once
    small = pipeline.load_split_arrays(manifest, "train", 24, max_per_class=3, seed=1)
    assert len(small) == 9 and np.bincount(small.labels).tolist() == [3, 3, 3]
    pipeline.clear_cache()
    assert pipeline.load_split_arrays(manifest, "train", 24, max_per_class=3, seed=1).paths == \
        small.paths
    first = root / arrays.paths[0]
    np.testing.assert_array_equal(arrays.images[0], decode.load_image(first, size=24))
    saved = splitting.save_manifest(manifest, tmp_path / "m.json")
    test = pipeline.load_split_arrays(saved, "test", 40)
    assert test.images.shape == (6, 40, 40, 3)


def test_load_split_arrays_errors(make_image_folder, tmp_path):
    root = make_image_folder(4)
    manifest = splitting.make_split(root)
    with pytest.raises(JewelNetError, match="unknown split 'dev'"):
        pipeline.load_split_arrays(manifest, "dev", 32)
    with pytest.raises(JewelNetError, match="image size"):
        pipeline.load_split_arrays(manifest, "train", 0)
    with pytest.raises(JewelNetError, match="not found; pass data_dir"):
        pipeline.load_split_arrays(manifest, "train", 32, data_dir=tmp_path / "elsewhere")
    changed = next(f for f in manifest["files"] if f["split"] == "val")
    Image.new("RGB", (40, 40), "white").save(root / changed["path"])
    with pytest.raises(JewelNetError, match="changed since the split manifest was written"):
        pipeline.load_split_arrays(manifest, "val", 32)


def test_resize_follows_thesis_rule():
    stripes = np.zeros((64, 64, 3), np.uint8)
    stripes[:, [c for c in range(64) if c % 4 >= 2]] = 255
    down = np.asarray(decode.resize_square(Image.fromarray(stripes), 32))
    assert set(np.unique(down).tolist()) == {0, 255}  # area averaging of 2x2 blocks: exact
    up = np.asarray(decode.resize_square(Image.fromarray(stripes[:16, :16]), 40))
    assert len(np.unique(up)) > 2  # bilinear: intermediate values, not nearest neighbour
    same = Image.fromarray(stripes)
    assert decode.resize_square(same, 64) is same


def _one_batch_arrays(n: int = 10, size: int = 8):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels = np.arange(n, dtype=np.int32) % 3
    return images, labels


@pytest.mark.parametrize("kind", ["tf", "py"])
def test_make_dataset(kind):
    images, labels = _one_batch_arrays()
    calls = []

    def augment(x):
        calls.append(1)
        return x * 0 + 7.0

    evaluation = pipeline.make_dataset(images, labels, 3, batch_size=4, training=False,
                                   augment=augment, pipeline=kind)
    batches = [(np.asarray(x), np.asarray(y)) for x, y in _iterate(evaluation)]
    assert [b[0].shape for b in batches] == [(4, 8, 8, 3), (4, 8, 8, 3), (2, 8, 8, 3)]
    assert all(b[0].dtype == np.float32 and b[1].dtype == np.float32 for b in batches)
    x_all = np.concatenate([b[0] for b in batches])
    np.testing.assert_array_equal(x_all, images.astype(np.float32))  # order kept, no augment
    y_all = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(y_all.argmax(1), labels)
    assert y_all.shape == (10, 3) and not calls

    training = pipeline.make_dataset(images, labels, 3, batch_size=4, training=True,
                                 augment=augment, seed=1, pipeline=kind)
    seen = [np.asarray(x) for x, _y in _iterate(training)]
    assert all(np.all(x == 7.0) for x in seen) and calls

    plain = [np.asarray(y).argmax(1) for _x, y in
             _iterate(pipeline.make_dataset(images, labels, 3, 4, True, seed=1, pipeline=kind))]
    again = [np.asarray(y).argmax(1) for _x, y in
             _iterate(pipeline.make_dataset(images, labels, 3, 4, True, seed=1, pipeline=kind))]
    assert [a.tolist() for a in plain] == [a.tolist() for a in again]  # seeded shuffle
    assert sorted(np.concatenate(plain).tolist()) == sorted(labels.tolist())


def _iterate(dataset):
    if hasattr(dataset, "as_numpy_iterator"):
        return list(dataset.as_numpy_iterator())
    return [dataset[i] for i in range(len(dataset))]


def test_make_dataset_from_split_arrays_and_errors():
    images, labels = _one_batch_arrays()
    arrays = pipeline.SplitArrays(images, labels, [f"{i}.png" for i in range(10)], ["a", "b", "c"])
    ds = pipeline.make_dataset(arrays, batch_size=5, pipeline="py")
    assert len(ds) == 2 and ds[0][1].shape == (5, 3)
    with pytest.raises(JewelNetError, match="labels must lie in"):
        pipeline.make_dataset(images, labels + 5, 3, pipeline="py")
    with pytest.raises(JewelNetError, match="10 images but 3 labels"):
        pipeline.make_dataset(images, labels[:3], 3, pipeline="py")


def test_keras_layer_augment_runs_in_tf_pipeline():
    import keras
    images, labels = _one_batch_arrays()
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    ds = pipeline.make_dataset(images, labels, 3, batch_size=5, training=True, augment=flip)
    x, _y = next(iter(_iterate(ds)))
    assert x.shape == (5, 8, 8, 3) and x.dtype == np.float32


def test_class_weights():
    weights = pipeline.class_weights([0, 0, 0, 1], 3)
    assert weights == pytest.approx({0: 4 / 6, 1: 2.0, 2: 1.0})


def test_module_imports_without_tensorflow():
    import subprocess
    import sys

    code = ("import sys, jewelnet_utils.split.pipeline; "
            "sys.exit(int('tensorflow' in sys.modules or 'keras' in sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_image_bytes_from_memory(write_image, tmp_path):
    raw = write_image(tmp_path / "m.png").read_bytes()
    img, kinds = decode.open_rgb(tmp_path / "elsewhere.png", raw)  # decodes bytes, not the path
    assert img.size == (48, 48) and kinds == []
