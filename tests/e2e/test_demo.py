"""The main job (`make demo`) runs the project's template on the local cloud from start to end."""

import io

from cd4ml.demo import run


def test_demo_deploys_the_stack_uploads_a_dataset_and_reports_what_eventbridge_did(root):
    out = io.StringIO()

    assert run(root / "template.yaml", out=out) == 0

    text = out.getvalue()
    assert "7 resources ready" in text
    assert "/datasets/orders/" in text and "bytes, version" in text
    # no rule reacts to uploads yet (the training pipeline is issue 4), and the demo says so
    assert "Object Created event" in text and "matched no rule" in text
