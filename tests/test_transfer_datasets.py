"""Transfer-learning readers: UCF101 split lists, HMDB51 split files, a folder per class."""

import pytest

from benchmarks.datasets import (
    AnnotationError,
    read_hmdb51,
    read_transfer_split,
    read_ucf101,
    read_video_folders,
)

CLASS_IND = "1 ApplyEyeMakeup\n2 Archery\n3 HandstandPushups\n"
TRAIN01 = (
    "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n"
    "Archery/v_Archery_g08_c02.avi 2\n"
    "\n"
    "HandstandPushups/v_HandStandPushups_g08_c01.avi 3\n"
)
TEST01 = "Archery/v_Archery_g01_c01.avi\nApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\n"


@pytest.fixture
def ucf(tmp_path):
    lists = tmp_path / "ucfTrainTestlist"
    lists.mkdir()
    (lists / "classInd.txt").write_text(CLASS_IND)
    (lists / "trainlist01.txt").write_text(TRAIN01)
    (lists / "testlist01.txt").write_text(TEST01)
    return lists


def test_ucf101_train_and_test_lists(ucf, tmp_path):
    train = read_ucf101(ucf / "trainlist01.txt", tmp_path / "UCF-101")
    assert train.classes == ["ApplyEyeMakeup", "Archery", "HandstandPushups"]
    assert [(r.key, r.label) for r in train.records] == [
        ("v_ApplyEyeMakeup_g08_c01", 0), ("v_Archery_g08_c02", 1), ("v_HandStandPushups_g08_c01", 2)]
    assert train.records[1].path == str(tmp_path / "UCF-101" / "Archery" / "v_Archery_g08_c02.avi")
    test = read_transfer_split("ucf101", ucf / "testlist01.txt", tmp_path / "UCF-101", subset="val")
    assert [(r.key, r.label) for r in test.records] == [("v_Archery_g01_c01", 1), ("v_ApplyEyeMakeup_g01_c01", 0)]


@pytest.mark.parametrize("row, line, match", [
    ("Archery/v_Archery_g09_c01.avi 3\n", 4, r"class number 3 is not 'Archery'"),
    ("Archery/v_Archery_g09_c01.avi two\n", 4, r"expected '<Class>/<video>"),
    ("v_Archery_g09_c01.avi 2\n", 4, r"expected '<Class>/<video>"),
    ("Bowling/v_Bowling_g09_c01.avi 2\n", 4, r"unknown class 'Bowling'"),
])
def test_ucf101_bad_rows_name_file_and_line(ucf, tmp_path, row, line, match):
    (ucf / "trainlist02.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\n\n"
                                         "Archery/v_Archery_g08_c02.avi 2\n" + row)
    with pytest.raises(AnnotationError, match=rf"trainlist02.txt:{line}: {match}"):
        read_ucf101(ucf / "trainlist02.txt", tmp_path)


def test_ucf101_bad_class_index(ucf, tmp_path):
    (ucf / "classInd.txt").write_text("1 ApplyEyeMakeup\n3 Archery\n")
    with pytest.raises(AnnotationError, match=r"classInd.txt:2: expected '2 <class name>'"):
        read_ucf101(ucf / "testlist01.txt", tmp_path)


def _hmdb(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a_brush.avi 1 \nb_brush.avi 2 \nc_brush.avi 0 \n")
    (splits / "wave_test_split1.txt").write_text("a_wave.avi 2 \nb_wave.avi 1 \n")
    (splits / "brush_hair_test_split2.txt").write_text("a_brush.avi 2 \n")
    (splits / "wave_test_split2.txt").write_text("a_wave.avi 1 \n")
    return splits


def test_hmdb51_split_ids(tmp_path):
    splits = _hmdb(tmp_path)
    train = read_hmdb51(splits, tmp_path / "hmdb", split=1, subset="train")
    assert train.classes == ["brush_hair", "wave"]
    assert [(r.key, r.label) for r in train.records] == [("a_brush", 0), ("b_wave", 1)]
    assert train.records[1].path == str(tmp_path / "hmdb" / "wave" / "b_wave.avi")
    test = read_transfer_split("hmdb51", splits, tmp_path / "hmdb", subset="val", split=1)
    assert [(r.key, r.label) for r in test.records] == [("b_brush", 0), ("a_wave", 1)]
    assert [r.key for r in read_hmdb51(splits, tmp_path, split=1, subset="unused").records] == ["c_brush"]
    assert [r.key for r in read_hmdb51(splits, tmp_path, split=2, subset="train").records] == ["a_wave"]
    # all: every labelled video of the split (train and test rows, not the unused one)
    everything = read_transfer_split("hmdb51", splits, tmp_path / "hmdb", subset="all", split=1)
    assert [(r.key, r.label) for r in everything.records] == [("a_brush", 0), ("b_wave", 1), ("b_brush", 0), ("a_wave", 1)]


def test_split_lists_need_their_video_root_and_folders_refuse_one(ucf, tmp_path):
    with pytest.raises(ValueError, match=r"ucf101: --video-root is required"):
        read_transfer_split("ucf101", ucf / "trainlist01.txt", subset="train")
    with pytest.raises(ValueError, match=r"hmdb51: --video-root is required"):
        read_transfer_split("hmdb51", _hmdb(tmp_path), subset="train")
    with pytest.raises(ValueError, match=r"is a folder; give the split list file"):
        read_transfer_split("ucf101", ucf, tmp_path, subset="train")
    with pytest.raises(ValueError, match=r"--video-root is for ucf101 and hmdb51"):
        read_transfer_split("folders", tmp_path, tmp_path, subset="train")


def test_hmdb51_bad_row_names_file_and_line(tmp_path):
    splits = _hmdb(tmp_path)
    (splits / "wave_test_split1.txt").write_text("a_wave.avi 2\nb_wave.avi 3\n")
    with pytest.raises(AnnotationError, match=r"wave_test_split1.txt:2: expected '<video> 0\|1\|2'"):
        read_hmdb51(splits, tmp_path, split=1)
    with pytest.raises(AnnotationError, match=r"no '<class>_test_split3.txt' files"):
        read_hmdb51(splits, tmp_path, split=3)
    # a video under two classes: both rows named, in their own files
    (splits / "wave_test_split1.txt").write_text("a_wave.avi 1\na_brush.avi 1\n")
    with pytest.raises(AnnotationError, match=r"wave_test_split1.txt:2: video 'a_brush' is listed twice \(first at .*brush_hair_test_split1.txt:1\)"):
        read_hmdb51(splits, tmp_path, split=1)


def test_folders_held_out_split_is_deterministic_and_disjoint(tmp_path):
    for cls, count in (("jump", 10), ("run", 4), ("sit", 1)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            (tmp_path / cls / f"{i:02d}.mp4").write_bytes(b"x")
    (tmp_path / "run" / "notes.txt").write_text("not a video")
    train, val = (read_video_folders(tmp_path, s) for s in ("train", "val"))
    everything = read_video_folders(tmp_path)
    assert train.classes == val.classes == ["jump", "run", "sit"]
    assert len(everything) == 15
    assert sorted(r.key for r in train.records + val.records) == sorted(r.key for r in everything.records)
    # round(10 * 0.2) = 2 of jump, max(1, round(0.8)) = 1 of run, none of a one-video class
    assert sorted(r.label for r in val.records) == [0, 0, 1]
    assert [r.key for r in read_video_folders(tmp_path, "val").records] == [r.key for r in val.records]
    assert [r.key for r in read_video_folders(tmp_path, "val", seed=1).records] != [r.key for r in val.records]
    # a video added later does not move the others between sides (the split hashes each name)
    (tmp_path / "jump" / "10.mp4").write_bytes(b"x")
    train2 = read_video_folders(tmp_path, "train")
    assert {r.key for r in train.records} <= {r.key for r in train2.records}
    (tmp_path / "empty").mkdir()
    with pytest.raises(AnnotationError, match=r"empty: class folder 'empty' holds no videos"):
        read_video_folders(tmp_path)


def test_a_file_given_as_the_folder_layout_says_it_is_a_file(tmp_path):
    from benchmarks.datasets import read_video_folders

    (tmp_path / "list.txt").write_text("a.mp4 0\n")
    with pytest.raises(AnnotationError, match=r"list.txt: a file: the folder layout takes the folder of class folders"):
        read_video_folders(tmp_path / "list.txt")
