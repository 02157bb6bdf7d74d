"""MTCNN: our P/R/O-Net load the wheel's weight files, P-Net is a sliding window, one face in grace_hopper."""
import numpy as np
import pytest
import torch

from cnn_core.data.samples import sample_photo
from cnn_core.vision.mtcnn import WEIGHT_VALUES, WeightsMissing, detect_faces, load_nets, pnet_window_check, weights_dir

pytestmark = pytest.mark.skipif(weights_dir() is None, reason="facenet-pytorch wheel (MTCNN weights) not installed")


@pytest.fixture(scope="module")
def nets():
    return load_nets()


def test_weight_files_fill_our_networks(nets):
    for name, net in zip(("pnet", "rnet", "onet"), nets):
        state = torch.load(weights_dir() / f"{name}.pt", weights_only=True)
        assert sum(v.numel() for v in state.values()) == WEIGHT_VALUES[name]
        assert sum(p.numel() for p in net.parameters()) == WEIGHT_VALUES[name]
        for key, value in state.items():
            assert torch.equal(net.state_dict()[key], value)


def test_pnet_score_map_is_a_sliding_window(nets):
    torch.manual_seed(0)
    image = torch.randn(1, 3, 40, 52)
    for row, col in [(0, 0), (5, 9), (14, 20)]:
        dense, window = pnet_window_check(nets[0], image, row, col)
        assert dense == pytest.approx(window, abs=1e-5)


def test_one_face_in_grace_hopper(nets):
    photo = np.asarray(sample_photo("grace_hopper").convert("RGB"))
    result = detect_faces(nets, photo)
    faces = result.faces
    assert len(faces.scores) == 1 and faces.scores[0] > 0.99
    x1, y1, x2, y2 = faces.boxes[0].tolist()
    assert 150 < x1 < 200 and 90 < y1 < 140 and 320 < x2 < 380 and 310 < y2 < 370  # her face, not her cap
    eyes = result.landmarks[0, :2]
    assert (eyes[:, 1] < result.landmarks[0, 3:, 1].min()).all()  # eyes above the mouth corners
    counts = [len(s.scores) for s in result.stages]
    assert counts[0] >= counts[1] >= counts[2] >= counts[3] >= counts[4] >= counts[5] == 1
    assert len(result.pnet_maps) == len(result.scales) > 5


def test_photo_without_faces_gives_an_empty_result(nets):
    blank = np.full((240, 320, 3), 128, dtype=np.uint8)
    assert len(detect_faces(nets, blank).faces.scores) == 0


def test_missing_weights_say_how_to_install(tmp_path):
    with pytest.raises(WeightsMissing, match="pip install --no-deps facenet-pytorch"):
        load_nets(tmp_path)
