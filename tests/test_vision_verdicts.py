"""The verdict loop (issue 12, item 4): evidence frames with their boxes -> operators' verdicts through
the API -> ``cityops vision dataset export`` -> ``cityops vision train`` (one epoch, random-weight
yolo11n.yaml) -> weights and a model card that load -> ``cityops vision eval --data`` printing both
models. Each step reads what the one before wrote. Frames are synthesised (coloured blocks on a noisy
road, with the boxes known), so the loop runs without ../shared."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from cityops.cli import main
from streams.schemas import Detection, EvidenceLabels
from vision.dataset import CLASS_ID, DatasetError, export_dataset, split, yolo_lines
from vision.detectors.base import Box
from vision.evidence import annotate, write_jpeg
from vision.labels import write_labels
from vision.tracking import Track

T0 = datetime(2026, 11, 25, 2, 0, tzinfo=UTC)
W, H = 160, 120


def synth_frame(rng: random.Random) -> tuple[np.ndarray, list[Track]]:
    """A grey road with noise and one to three blocks: cars (wide, blue-ish) and people (tall, red)."""
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    img = (nrng.normal(110, 12, (H, W, 3))).clip(0, 255).astype(np.uint8)
    tracks = []
    for k in range(rng.randint(1, 3)):
        cls = rng.choice(["car", "person"])
        w, h = (
            (rng.randint(30, 50), rng.randint(16, 26))
            if cls == "car"
            else (rng.randint(8, 12), rng.randint(24, 36))
        )
        x, y = rng.randint(0, W - w - 1), rng.randint(0, H - h - 1)
        colour = (200, 80, 40) if cls == "car" else (40, 40, 210)
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, -1)
        tracks.append(Track(k + 1, Box(float(x), float(y), float(x + w), float(y + h), cls, 0.8), 0.0))
    return img, tracks


def write_config(tmp_path: Path, cfg, name: str = "cityops.yaml", store_url: str | None = None) -> Path:
    doc = {
        "data_dir": str(cfg.data),
        "grid": cfg.grid.model_dump(mode="json", exclude_unset=True),
        "roster": [r.model_dump(mode="json", exclude_unset=True) for r in cfg.roster],
        "store": {"url": store_url or cfg.store_url},
    }
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def camera_incidents(api, n: int, seed: int = 3, first: int = 0) -> dict[int, list[Track]]:
    """``n`` camera incidents in distinct cells, each with an evidence JPEG, clean frame and labels
    written by vision's own writers; returns incident id -> the boxes drawn on its frame."""
    from dispatch.wiring import build_dispatch

    rng = random.Random(seed)
    intake = build_dispatch(api.cfg, api.grid, sessions=api.sessions).intake
    cells = api.grid.cells[first:][:: max(1, len(api.grid.cells) // n)][:n]
    out = {}
    for i, cell in enumerate(cells, start=first):
        frame, tracks = synth_frame(rng)
        rel = f"evidence/20261125/cam_{i}.jpg"
        write_jpeg(annotate(frame, [], tracks, {}, hit=tracks[0].id), api.cfg.data, rel)
        write_labels(frame, tracks, api.cfg.data, rel, tracks[0].id)
        p = cell.geometry.representative_point()
        res = intake.handle(
            Detection(id=f"cam:{i}", type="illegal_parking", camera_id="cam", lon=p.x, lat=p.y,
                      observed_at=T0 + timedelta(seconds=i), evidence=rel)
        )  # fmt: skip
        out[res.incident_id] = tracks
    assert len(out) == n, "each detection must open its own incident"
    return out


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_verdicts_to_dataset_to_model_and_back(staff_api, tmp_path, capsys):
    api = staff_api(users=[("olga", "operator", None), ("sam", "supervisor", None)])
    client = api.client()
    olga, sam = api.login(client, "olga"), api.login(client, "sam")
    incidents = camera_incidents(api, 10)
    ids = sorted(incidents)
    false_alarms = set(ids[1::4])  # 3 of 10

    for iid in ids:
        body = (
            {"verdict": "false_alarm", "reason": "shadow of a tree"}
            if iid in false_alarms
            else {"verdict": "confirmed"}
        )
        res = client.post(f"/api/v1/incidents/{iid}/verdict", headers=olga, json=body)
        assert res.status_code == 200, res.text
        v = res.json()
        assert v["frame"].endswith(".frame.jpg") and (api.cfg.data / v["frame"]).is_file()
        assert [b["cls"] for b in v["boxes"]] == [t.box.cls for t in incidents[iid]]

    # idempotent: olga changes her mind on one; the row is updated, not duplicated
    changed = ids[0]
    again = client.post(f"/api/v1/incidents/{changed}/verdict", headers=olga,
                        json={"verdict": "false_alarm", "reason": "a parked bin, not a car"})  # fmt: skip
    assert again.status_code == 200
    detail = client.get(f"/api/v1/incidents/{changed}", headers=olga).json()
    assert [(v["actor"], v["verdict"], v["reason"]) for v in detail["verdicts"]] == [
        ("olga", "false_alarm", "a parked bin, not a car")
    ]
    false_alarms.add(changed)
    # a second operator with boxes of their own: the latest verdict is the example
    drawn = ids[2]
    res = client.post(f"/api/v1/incidents/{drawn}/verdict", headers=sam,
                      json={"verdict": "confirmed", "boxes": [{"cls": "motorbike", "x1": 10, "y1": 20, "x2": 60, "y2": 50}]})  # fmt: skip
    assert res.status_code == 200 and res.json()["boxes"][0]["cls"] == "motorcycle"  # canonical name
    assert len(client.get(f"/api/v1/incidents/{drawn}", headers=olga).json()["verdicts"]) == 2

    # the dataset: what the verdicts say, in YOLO's layout
    cfg_file = write_config(tmp_path, api.cfg)
    ds = tmp_path / "ds"
    assert main(["vision", "dataset", "export", "--out", str(ds), "--config", str(cfg_file), "--quiet"]) == 0
    data = yaml.safe_load((ds / "data.yaml").read_text())
    assert data["names"][CLASS_ID["car"]] == "car" and Path(data["path"]) == ds.resolve()
    labels = {p.stem: p for p in (ds / "labels").glob("*/inc-*.txt")}
    images = {p.stem for p in (ds / "images").glob("*/inc-*.jpg")}
    assert set(labels) == images == {f"inc-{i}" for i in ids}
    assert {p.parent.name for p in labels.values()} == {"train", "val"}
    for iid in ids:
        lines = labels[f"inc-{iid}"].read_text().splitlines()
        if iid in false_alarms:
            assert lines == [], "a false alarm is a background image"
        elif iid == drawn:
            assert [ln.split()[0] for ln in lines] == [str(CLASS_ID["motorcycle"])]
        else:
            want = [t.box for t in incidents[iid]]
            assert [int(ln.split()[0]) for ln in lines] == [CLASS_ID[b.cls] for b in want]
            cx = [float(ln.split()[1]) * W for ln in lines]
            assert cx == pytest.approx([(b.x1 + b.x2) / 2 for b in want], abs=0.01)
        img = cv2.imread(str(next((ds / "images").glob(f"*/inc-{iid}.jpg"))))
        assert img.shape[:2] == (H, W)
    manifest = json.loads((ds / "examples.json").read_text())
    assert {m["incident_id"]: m["verdict"] for m in manifest}[changed] == "false_alarm"

    # training: one epoch from random weights, a model card, weights that the detector loads
    run = tmp_path / "run"
    rc = main(["vision", "train", "--data", str(ds), "--model", "yolo11n.yaml", "--epochs", "1", "--imgsz", "64",
               "--batch", "4", "--out", str(run), "--config", str(cfg_file), "--quiet"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    card = json.loads((run / "model_card.json").read_text())
    assert card["epochs"] == 1 and card["base_model"] == "yolo11n.yaml" and card["imgsz"] == 64
    assert set(card["metrics"]) == {"precision", "recall", "mAP50", "mAP50-95"}
    n_train = len(list((ds / "labels" / "train").glob("*.txt")))
    assert card["dataset"]["train"]["images"] == n_train
    assert card["dataset"]["train"]["background"] + card["dataset"]["val"]["background"] == len(false_alarms)
    assert "yolo11n.yaml" in (run / "model_card.md").read_text()
    from vision.detectors.ultralytics_backend import UltralyticsDetector

    det = UltralyticsDetector(str(run / "model.pt"), imgsz=64, data_dir=api.cfg.data, threads=2)
    assert det.classes is not None and "car" in det.classes  # the dataset's names travel with the weights
    assert isinstance(det.detect(synth_frame(random.Random(99))[0]), list)

    # eval: both models on the same val split, one row each
    capsys.readouterr()
    rc = main(["vision", "eval", "--data", str(ds), "--model", "yolo11n.yaml", "--model", str(run / "model.pt"),
               "--imgsz", "64", "--config", str(cfg_file)])  # fmt: skip
    printed = capsys.readouterr().out
    assert rc == 0
    rows = [ln for ln in printed.splitlines() if ln.startswith(("yolo11n.yaml", str(run / "model.pt")))]
    assert len(rows) == 2 and all(len(r.split()) == 5 for r in rows), printed


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_verdict_refuses_bad_input_with_clear_errors(staff_api):
    api = staff_api(
        users=[("olga", "operator", None), ("ivan", "inspector", "insp-a"), ("vera", "viewer", None)]
    )
    client = api.client()
    olga = api.login(client, "olga")
    a, b = sorted(camera_incidents(api, 2))
    url = f"/api/v1/incidents/{a}/verdict"

    def post(body, headers=olga, u=url):
        return client.post(u, headers=headers, json=body)

    assert post({"verdict": "maybe"}).status_code == 422
    res = post({"verdict": "false_alarm", "reason": "   "})
    assert res.status_code == 422 and "reason" in res.text
    assert post({"verdict": "confirmed", "colour": "red"}).status_code == 422
    res = post({"verdict": "confirmed", "boxes": [{"cls": "unicorn", "x1": 1, "y1": 1, "x2": 5, "y2": 5}]})
    assert res.status_code == 422 and "unicorn" in res.text
    res = post({"verdict": "confirmed", "boxes": [{"cls": "car", "x1": 50, "y1": 1, "x2": 5, "y2": 5}]})
    assert res.status_code == 422 and "x2 > x1" in res.text
    assert post({"verdict": "confirmed"}, u="/api/v1/incidents/999999/verdict").status_code == 404
    assert post({"verdict": "confirmed"}, headers=api.login(client, "ivan")).status_code == 403
    assert post({"verdict": "confirmed"}, headers=api.login(client, "vera")).status_code == 403
    assert post({"verdict": "confirmed"}, headers={}).status_code == 401
    # nothing was stored by any refusal
    assert client.get(f"/api/v1/incidents/{a}", headers=olga).json()["verdicts"] == []

    # merged: the verdict belongs on the incident it went into
    assert client.post(f"/api/v1/incidents/{b}/merge", headers=olga, json={"into": a}).status_code == 200
    res = post({"verdict": "confirmed"}, u=f"/api/v1/incidents/{b}/verdict")
    assert res.status_code == 409 and f"merged into {a}" in res.text


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_export_without_verdicts_exits_1_and_writes_nothing(staff_api, tmp_path, capsys):
    api = staff_api()
    camera_incidents(api, 1)
    cfg_file = write_config(tmp_path, api.cfg)
    out = tmp_path / "ds"
    assert main(["vision", "dataset", "export", "--out", str(out), "--config", str(cfg_file), "--quiet"]) == 1
    assert "no verdicts" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".ds.")] == []


def test_export_refuses_a_folder_with_files_and_frames_that_are_gone(tmp_path):
    data = tmp_path / "data"
    ex = {"incident_id": 1, "verdict": "confirmed", "reason": "", "actor": "olga", "at": T0,
          "frame": "evidence/x.frame.jpg", "boxes": []}  # fmt: skip
    with pytest.raises(DatasetError, match="evidence frame"):
        export_dataset([ex], data, tmp_path / "out", progress=False)
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not an empty folder"):
        export_dataset([ex], data, full, progress=False)
    assert [p.name for p in full.iterdir()] == ["keep.txt"]


def test_yolo_lines_normalise_clamp_and_drop_classless_boxes():
    boxes = [
        {"cls": "car", "x1": 10, "y1": 20, "x2": 50, "y2": 60},
        {"cls": "tvmonitor", "x1": -5, "y1": 90, "x2": 30, "y2": 200},  # alias; runs off the frame
        {"cls": "object", "x1": 0, "y1": 0, "x2": 10, "y2": 10},  # the motion backend's: no class to learn
        {"cls": "person", "x1": 99.5, "y1": 0, "x2": 120, "y2": 10},  # wholly outside: nothing left
    ]
    lines, dropped = yolo_lines(boxes, 100, 100)
    assert dropped == ["object"]
    assert lines[0] == f"{CLASS_ID['car']} 0.300000 0.400000 0.400000 0.400000"
    c, cx, cy, w, h = lines[1].split()
    assert int(c) == CLASS_ID["tv"] and (float(cx), float(cy), float(w), float(h)) == (0.15, 0.95, 0.3, 0.1)
    assert len(lines) == 2


def test_split_is_deterministic_and_keeps_both_sides():
    ids = list(range(1, 21))
    val = split(ids, 0.2)
    assert len(val) == 4 and val == split(list(reversed(ids)), 0.2)
    assert split([7], 0.2) == set() and len(split([1, 2], 0.9)) == 1


def test_labels_file_sits_beside_the_evidence(tmp_path):
    frame = np.full((H, W, 3), 120, np.uint8)
    frame[40:70, 30:90] = (200, 80, 40)
    tracks = [
        Track(4, Box(30, 40, 90, 70, "car", 0.9), 0.0),
        Track(5, Box(150, 100, 400, 300, "person", 0.5), 0.0),
    ]
    rel = write_labels(frame, tracks, tmp_path, "evidence/d/x.jpg", 4)
    assert rel == EvidenceLabels.path_for("evidence/d/x.jpg") == "evidence/d/x.labels.json"
    doc = EvidenceLabels.model_validate_json((tmp_path / rel).read_text())
    assert (doc.width, doc.height, doc.hit_track) == (W, H, 4)
    assert [(b.cls, b.x2, b.y2) for b in doc.boxes] == [
        ("car", 90, 70),
        ("person", W, H),
    ]  # clamped to the frame
    clean = cv2.imread(str(tmp_path / doc.frame)).astype(int)
    drawn = annotate(frame, [], tracks, {}, hit=4).astype(int)
    ink = np.abs(drawn - frame).max(axis=2) > 40  # where the evidence JPEG has boxes and labels drawn
    assert ink.sum() > 100 and np.abs(clean - frame)[ink].mean() < 8  # the clean frame has none of them


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_console_verdict_control_through_the_api(tmp_path, staff_api):
    from dash import html

    from dashboard.api_client import ApiClient
    from dashboard.context import DashContext
    from dashboard.i18n import t
    from dashboard.live import LiveState
    from dashboard.pages import console

    api = staff_api(users=[("olga", "operator", None)])
    (iid,) = camera_incidents(api, 1)
    client = ApiClient("http://testserver")
    client.http = api.client()
    ctx = DashContext(api.cfg, LiveState("redis://127.0.0.1:1/0"), api.grid, client)
    auth = client.login("olga", "olga-password").data["token"]

    def ids(node) -> list:
        found = [node.id] if getattr(node, "id", None) is not None else []
        kids = getattr(node, "children", None)
        for k in kids if isinstance(kids, list) else [kids] if kids is not None else []:
            found += ids(k)
        return found

    _, body, _ = console.show_detail(ctx, iid, 0, 0, auth, "en")
    buttons = [i for i in ids(html.Div(body)) if isinstance(i, dict) and i.get("type") == "console-verdict"]
    assert buttons == [
        {"type": "console-verdict", "verdict": v, "incident": iid} for v in ("confirmed", "false_alarm")
    ]
    for lang in ("zh-CN", "en"):
        assert t("verdict.false_alarm", lang) != "verdict.false_alarm"
        msg, bump = console.submit_verdict(ctx, "false_alarm", iid, iid, " ", auth, 3, lang)
        assert (msg, bump) == (t("verdict.needs_reason", lang), console.no_update)
    # the button was drawn for another incident than the one selected now: nothing is sent
    assert console.submit_verdict(ctx, "confirmed", iid, iid + 1, "", auth, 3, "en")[0] == t(
        "selection_moved", "en"
    )
    msg, bump = console.submit_verdict(ctx, "false_alarm", iid, iid, "<b>glare</b>", auth, 3, "zh-CN")
    assert msg.children == f"✓ #{iid} 误报" and bump == 4
    _, body, _ = console.show_detail(ctx, iid, 0, bump, auth, "en")
    (verdict,) = [c for c in body if getattr(c, "id", None) == "detail-verdict"]
    (shown,) = [c for c in verdict.children if getattr(c, "id", None) == "verdicts"]
    assert [li.children for li in shown.children] == [
        "False alarm · olga (operator) · <b>glare</b>"
    ]  # text, not HTML
    msg, _ = console.submit_verdict(ctx, "confirmed", 999999, 999999, "", auth, 3, "en")
    assert msg.children.startswith("✗ ") and "999999" in msg.children
    # merged into another: the page says so in its language, not the API's English
    (other,) = camera_incidents(api, 1, seed=5, first=1)
    assert client.act(auth, other, "merge", {"into": iid}).ok
    msg, _ = console.submit_verdict(ctx, "confirmed", other, other, "", auth, 3, "zh-CN")
    assert msg.children == f"✗ 案件 #{other} 已合并到其他案件或不是视频识别案件，不能判定"


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_concurrent_verdicts_of_one_operator_leave_one_row(staff_api):
    from concurrent.futures import ThreadPoolExecutor

    api = staff_api(users=[("olga", "operator", None)])
    client = api.client()
    olga = api.login(client, "olga")
    (iid,) = camera_incidents(api, 1)

    def give(k: int) -> int:
        body = {"verdict": "false_alarm", "reason": f"try {k}"} if k % 2 else {"verdict": "confirmed"}
        return api.client().post(f"/api/v1/incidents/{iid}/verdict", headers=olga, json=body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(give, range(16)))
    assert codes == [200] * 16
    (only,) = client.get(f"/api/v1/incidents/{iid}", headers=olga).json()["verdicts"]
    assert only["actor"] == "olga" and only["verdict"] in ("confirmed", "false_alarm")


def test_event_eval_compares_models_on_the_same_clips(tmp_path):
    """``vision eval LABELS --model A --model B``: each model replaces the camera's detector on the same
    clips, one table each; the weight-free backend's own run (no --model) finds the event, a random-
    weight yolo11n.yaml finds nothing, so the override really took effect."""
    import subprocess
    import sys

    from vision.sources import DEMO_CLIP_ZONE, make_demo_clip

    make_demo_clip(tmp_path / "clip.avi", seconds=30)
    (tmp_path / "cam.yaml").write_text(
        # static_objects off: the zone lists ``object``, which would switch the static-object analysis on
        # beside any model, and it alone finds the car; here only the model may find it
        yaml.safe_dump(
            {
                "id": "gen",
                "fps": 5,
                "zones": [DEMO_CLIP_ZONE],
                "detector": {"imgsz": 64},
                "static_objects": False,
            }
        )  # fmt: skip
    )
    labels = {"tolerance_s": 5, "clips": [{"clip": "clip.avi", "camera": "cam.yaml",
              "events": [{"type": "illegal_parking", "start": 6, "end": 26}]}]}  # fmt: skip
    (tmp_path / "labels.yaml").write_text(yaml.safe_dump(labels))
    root = Path(__file__).resolve().parents[1]

    def run(*extra):
        res = subprocess.run([sys.executable, "-m", "cityops", "vision", "eval", str(tmp_path / "labels.yaml"), *extra],
                             cwd=root, capture_output=True, text=True, timeout=300)  # fmt: skip
        return res.returncode, res.stdout, res.stderr

    rc, out, err = run()
    assert rc == 0, err
    assert out.strip().splitlines()[-1].split()[:4] == ["all", "1", "0", "0"], out
    rc, out, err = run("--model", "yolo11n.yaml", "--model", "yolo11n.yaml")
    assert rc == 0, err
    blocks = out.split("== model ")[1:]
    assert len(blocks) == 2 and all(b.startswith("yolo11n.yaml") for b in blocks), out
    for b in blocks:
        totals = [
            ln.split()[:4] for ln in b.splitlines() if ln.startswith("all ") and ln.split()[1].isdigit()
        ]
        assert totals == [["all", "0", "0", "1"]], out
    rc, out, err = run("--model", str(tmp_path / "nope.pt"))
    assert rc in (1, 2) and "nope.pt" in err and "Traceback" not in err


def test_train_and_eval_refuse_what_they_cannot_use(tmp_path, capsys):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data")}))
    conf = ["--config", str(cfg_file), "--quiet"]
    assert main(["vision", "train", "--data", str(tmp_path / "nope"), "--model", "yolo11n.yaml", *conf]) == 2
    assert "no data.yaml" in capsys.readouterr().err
    ds = tmp_path / "ds"
    for part in ("train", "val"):
        (ds / "images" / part).mkdir(parents=True)
        cv2.imwrite(str(ds / "images" / part / "a.jpg"), np.zeros((32, 32, 3), np.uint8))
    (ds / "data.yaml").write_text(
        yaml.safe_dump({"path": str(ds), "train": "images/train", "val": "images/val"})
    )
    int8 = tmp_path / "yolo11n_int8_openvino_model"
    int8.mkdir()
    assert main(["vision", "train", "--data", str(ds), "--model", str(int8), *conf]) == 2
    assert "cannot be trained" in capsys.readouterr().err
    assert main(["vision", "train", "--data", str(ds), "--model", str(tmp_path / "gone.pt"), *conf]) == 2
    assert "gone.pt" in capsys.readouterr().err
    (ds / "images" / "val" / "a.jpg").unlink()
    assert main(["vision", "train", "--data", str(ds), "--model", "yolo11n.yaml", *conf]) == 2
    assert "val images" in capsys.readouterr().err
    assert main(["vision", "eval", "--data", str(ds), "--config", str(cfg_file)]) == 2
    assert "--model" in capsys.readouterr().err
