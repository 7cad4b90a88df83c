"""benchmarks.datasets: the official annotation formats -> records with checkpoint class indices."""

import json

import pytest

from benchmarks.datasets import (
    AnnotationError,
    load_dataset,
    read_charades,
    read_kinetics_csv,
    read_path_label_list,
    read_ssv2,
)

K400_CSV = """youtube_id,time_start,time_end,label,split
--07WQ2iBlw,1,11,javelin throw,val
abc,10,20,riding a bike,val
xyz,0,10,abseiling,val
"""


def test_kinetics_csv_sorted_class_order_and_paths(tmp_path):
    (tmp_path / "val.csv").write_text(K400_CSV)
    folder = tmp_path / "videos" / "abseiling"
    folder.mkdir(parents=True)
    (folder / "xyz_000000_000010.mp4").write_bytes(b"x")  # per-class layout
    (tmp_path / "videos" / "abc.webm").write_bytes(b"x")  # bare youtube id
    # a dataset no class list ships for: the rank among the file's sorted names
    mine = read_kinetics_csv(tmp_path / "val.csv", tmp_path / "videos", name="mine")
    assert mine.classes == ["abseiling", "javelin throw", "riding a bike"]
    assert [r.label for r in mine.records] == [1, 2, 0]
    # Kinetics-400: the index among its 400 classes (zoo/classes/kinetics400.txt), whichever this file holds
    ds = read_kinetics_csv(tmp_path / "val.csv", tmp_path / "videos")
    assert len(ds.classes) == 400 and ds.classes[166] == "javelin throw"
    assert [(r.key, r.label) for r in ds.records] == [
        ("--07WQ2iBlw_000001_000011", 166),
        ("abc_000010_000020", 267),
        ("xyz_000000_000010", 0),
    ]
    assert ds.records[2].path == str(folder / "xyz_000000_000010.mp4")
    assert ds.records[1].path.endswith("abc.webm")
    assert ds.records[0].path == str(tmp_path / "videos" / "--07WQ2iBlw_000001_000011.mp4")  # missing: reported later
    assert ds.metric == "topk" and not ds.multilabel


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_kinetics_csv_saved_with_semicolons_or_tabs_reads_as_with_commas(tmp_path, delimiter):
    # a spreadsheet in many locales saves its CSV with semicolons (or tabs)
    text = K400_CSV.replace(",", delimiter) + delimiter.join(["def", "0", "10", "pushing car", "val"]) + "\n"
    (tmp_path / "commas.csv").write_text(K400_CSV + "def,0,10,pushing car,val\n")
    (tmp_path / "other.csv").write_text(text)
    expected = load_dataset("kinetics400", tmp_path / "commas.csv", tmp_path)
    got = load_dataset("kinetics400", tmp_path / "other.csv", tmp_path)
    assert [(r.key, r.label) for r in got.records] == [(r.key, r.label) for r in expected.records]
    assert len(got.records) == 4
    (tmp_path / "bom.csv").write_text("\ufeff" + text)  # Excel's "CSV UTF-8" starts with a byte order mark
    assert [r.key for r in load_dataset("kinetics400", tmp_path / "bom.csv", tmp_path).records] == [r.key for r in got.records]


def test_kinetics_csv_with_a_class_list(tmp_path):
    (tmp_path / "val.csv").write_text(K400_CSV)
    # PyTorchVideo's kinetics_classnames.json style: quoted names, {name: index}
    names = {'"abseiling"': 0, "air drumming": 1, "javelin_throw": 2, "riding a bike": 3}
    (tmp_path / "classes.json").write_text(json.dumps(names))
    ds = read_kinetics_csv(tmp_path / "val.csv", tmp_path, classes=tmp_path / "classes.json")
    assert [r.label for r in ds.records] == [2, 3, 0]
    (tmp_path / "few.txt").write_text("abseiling\nriding a bike\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: unknown class 'javelin throw'"):
        read_kinetics_csv(tmp_path / "val.csv", tmp_path, classes=tmp_path / "few.txt")


def test_kinetics_malformed_row_names_file_and_line(tmp_path):
    (tmp_path / "val.csv").write_text(K400_CSV + "bad,notanumber,3,abseiling,val\n")
    with pytest.raises(AnnotationError, match=r"val.csv:5: time_start/time_end"):
        read_kinetics_csv(tmp_path / "val.csv", tmp_path)
    (tmp_path / "short.csv").write_text("youtube_id,time_start,time_end,label,split\nabc,1\n")
    with pytest.raises(AnnotationError, match=r"short.csv:2"):
        read_kinetics_csv(tmp_path / "short.csv", tmp_path)


def test_path_label_list(tmp_path):
    (tmp_path / "val.txt").write_text("a/x.mp4 3\n\n/abs/y.mp4 0\n")
    ds = read_path_label_list(tmp_path / "val.txt", tmp_path / "root")
    assert [(r.key, r.path, r.label) for r in ds.records] == [
        ("a/x.mp4", str(tmp_path / "root" / "a" / "x.mp4"), 3),
        ("/abs/y.mp4", "/abs/y.mp4", 0),
    ]
    (tmp_path / "bad.txt").write_text("a.mp4 1\nb.mp4 cat\n")
    with pytest.raises(AnnotationError, match=r"bad.txt:2: expected '<path> <class index>'"):
        read_path_label_list(tmp_path / "bad.txt", tmp_path)
    (tmp_path / "dup.txt").write_text("a.mp4 1\nb.mp4 0\na.mp4 1\n")
    with pytest.raises(AnnotationError, match=r"dup.txt:3: video 'a.mp4' is listed twice \(first at line 1\)"):
        read_path_label_list(tmp_path / "dup.txt", tmp_path)
    (tmp_path / "classes.txt").write_text("run\njump\n")
    (tmp_path / "far.txt").write_text("a.mp4 1\nb.mp4 5\n")
    with pytest.raises(AnnotationError, match=r"far.txt:2: b.mp4: class index 5 >= 2 classes"):
        read_path_label_list(tmp_path / "far.txt", tmp_path)


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    # a list saved in a legacy code page (é in latin-1): the reader's own error, not Python's codec message
    (tmp_path / "val.csv").write_bytes(K400_CSV.replace("riding a bike", "caf\u00e9").encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"val.csv:3: not UTF-8 text \(byte 0xe9 at column 14\): save the file as UTF-8"):
        read_kinetics_csv(tmp_path / "val.csv", tmp_path)
    with pytest.raises(AnnotationError, match=r"val.csv:3: not UTF-8"):
        load_dataset("kinetics400", tmp_path / "val.csv", tmp_path)
    (tmp_path / "list.txt").write_bytes(b"a.mp4 0\n\xff\xfe.mp4 1\n")
    with pytest.raises(AnnotationError, match=r"list.txt:2: not UTF-8 text \(byte 0xff at column 1\)"):
        read_path_label_list(tmp_path / "list.txt", tmp_path)


def test_kinetics_csv_numbers_out_of_range_and_duplicates_name_their_rows(tmp_path):
    (tmp_path / "inf.csv").write_text(K400_CSV.replace("abc,10,20", "abc,1e400,20"))
    with pytest.raises(AnnotationError, match=r"inf.csv:3: time_start/time_end must be numbers"):
        read_kinetics_csv(tmp_path / "inf.csv", tmp_path)
    (tmp_path / "dup.csv").write_text(K400_CSV + "abc,10,20,riding a bike,val\n")
    with pytest.raises(AnnotationError, match=r"dup.csv:5: video 'abc_000010_000020' is listed twice \(first at line 3\)"):
        read_kinetics_csv(tmp_path / "dup.csv", tmp_path)


def test_ssv2(tmp_path):
    labels = {"Approaching something with your camera": "0", "Putting something on a surface": "1"}
    items = [
        {"id": "74225", "label": "putting a cup on a table", "template": "Putting [something] on a surface", "placeholders": ["a cup"]},
        {"id": "116154", "label": "approaching the door", "template": "Approaching [something] with your camera", "placeholders": []},
    ]
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "validation.json").write_text(json.dumps(items))
    (tmp_path / "74225.webm").write_bytes(b"x")
    ds = load_dataset("ssv2", tmp_path / "validation.json", tmp_path)
    assert [(r.key, r.label) for r in ds.records] == [("74225", 1), ("116154", 0)]
    assert ds.records[0].path == str(tmp_path / "74225.webm")
    items[1]["template"] = "Approaching [something] with yuor camera"
    (tmp_path / "validation.json").write_text(json.dumps(items))
    with pytest.raises(AnnotationError, match="entry 1 .*did you mean approaching something with your camera"):
        read_ssv2(tmp_path / "validation.json", tmp_path / "labels.json", tmp_path)
    # a labels file of other indices than 0..N-1 (a subset of the official one, or a copy with a slip)
    (tmp_path / "labels.json").write_text(json.dumps({"Approaching something with your camera": "93",
                                                      "Putting something on a surface": "109"}))
    with pytest.raises(AnnotationError, match=r"labels.json: indices \[0, 1\] are missing: the labels JSON gives each index"):
        read_ssv2(tmp_path / "validation.json", tmp_path / "labels.json", tmp_path)
    (tmp_path / "labels.json").write_text(json.dumps({"Approaching something with your camera": "0",
                                                      "Putting something on a surface": "0"}))
    with pytest.raises(AnnotationError, match=r"labels.json: index 0 is given to 2 templates"):
        read_ssv2(tmp_path / "validation.json", tmp_path / "labels.json", tmp_path)
    (tmp_path / "labels.json").write_bytes('{"Caf\u00e9 something": "0"}'.encode("latin-1"))
    with pytest.raises(AnnotationError, match=r"labels.json:1: not UTF-8 text"):
        read_ssv2(tmp_path / "validation.json", tmp_path / "labels.json", tmp_path)


CHARADES_CSV = """id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length
46GP8,HR43,Kitchen,6,7,Yes,"A person cooks.",food,"A person cooks, then eats.","c092 11.90 21.20;c147 0.00 12.60;c092 30.0 31.0",24.83
N11GT,P0MM,Stairs,6,7,Yes,"Walks.",stairs,"Walks.",,8.2
"""


def test_charades_multilabel(tmp_path):
    (tmp_path / "Charades_v1_test.csv").write_text(CHARADES_CSV)
    (tmp_path / "Charades_v1_classes.txt").write_text("".join(f"c{i:03d} class {i}\n" for i in range(157)))
    ds = load_dataset("charades", tmp_path / "Charades_v1_test.csv", tmp_path)
    assert ds.multilabel and ds.metric == "map" and ds.num_classes == 157
    assert [(r.key, r.label) for r in ds.records] == [("46GP8", (92, 147)), ("N11GT", ())]
    (tmp_path / "bad.csv").write_text(CHARADES_CSV.replace("c147 0.00 12.60", "c147 0.00"))
    with pytest.raises(AnnotationError, match=r"bad.csv:2: action 'c147 0.00'"):
        read_charades(tmp_path / "bad.csv", tmp_path)
    with pytest.raises(AnnotationError, match=r"val.csv: Charades takes its frame list as the annotations themselves"):
        load_dataset("charades", tmp_path / "Charades_v1_test.csv", tmp_path, frame_list=tmp_path / "val.csv")


def test_kinetics_csv_of_other_classes_says_to_give_their_list(tmp_path):
    (tmp_path / "val.csv").write_text("youtube_id,time_start,time_end,label,split\nabc,0,10,moving up,val\n")
    with pytest.raises(AnnotationError, match=r"val.csv:2: unknown class 'moving up'.*not one of the 400 kinetics400 "
                       r"classes zoo/classes ships; a file of other classes needs their list: --classes"):
        read_kinetics_csv(tmp_path / "val.csv", tmp_path)
    # the demo's own classes ship too: its order (left, right, up, ...), not the sorted one
    assert read_kinetics_csv(tmp_path / "val.csv", tmp_path, name="demo").records[0].label == 2
