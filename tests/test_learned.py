import numpy as np

from bot.safety import Level
from bot.safety.learned import INT8_ENCODER, UnitClassifier


def test_the_onnx_encoders_give_the_vectors_torch_gives(runtime):
    import torch
    from transformers import AutoModel, AutoTokenizer

    folder = runtime.settings.safety_model_dir
    texts = ["my hip hurts after running", "fell off my bike and I can't stand, leg turned out"]
    tokenizer = AutoTokenizer.from_pretrained(str(folder / "encoder"))
    encoder = AutoModel.from_pretrained(str(folder / "encoder")).eval()
    with torch.inference_mode():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        states = encoder(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = torch.nn.functional.normalize((states * mask).sum(1) / mask.sum(1), dim=-1)

    def cosines(precision: str) -> np.ndarray:
        model = UnitClassifier(folder, precision)
        return ((model.pooled(texts) / model.scale) * expected.numpy()).sum(axis=1)

    assert runtime.safety.learned.model.encoder_file.name == INT8_ENCODER
    assert np.all(cosines("fp32") > 0.9999)
    assert np.all(cosines("int8") > 0.97)


def test_the_learned_layer_reads_negation_that_embeddings_blur(runtime):
    learned = runtime.safety.learned
    assert learned.read("since this morning I can't put any weight on my left leg")
    assert not learned.read("I can put my full weight on it fine, just a bit stiff")


def test_learned_bars_sit_between_the_threshold_and_certainty(runtime):
    # A rule's learned_sureness is the share of the way from its level's threshold to 1, so
    # a retrain that moves the thresholds keeps what the bar means.
    learned = runtime.safety.learned
    threshold = learned.model.thresholds["emergency"]
    fall = learned.book.rule("fracture_after_trauma").learned_sureness
    bar = learned._fires_from("fracture_after_trauma", Level.EMERGENCY)
    assert bar == threshold + fall * (1 - threshold)
    assert threshold < bar < 1
    assert learned._bar(Level.EMERGENCY, 0.0) == threshold
    assert learned._bar(Level.URGENT, 0.5) > learned.model.thresholds["urgent"]


def test_serving_the_safety_model_imports_no_torch(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    code = (
        "import sys; from bot.config import Settings; from bot.safety import SafetyScreen; "
        f"s = SafetyScreen(Settings(safety_model_dir={str(ROOT / 'index' / 'safety')!r})); "
        "r = s.screen_with_learned('fell on the ice and now my leg will not take my weight'); "
        "print(r.level.label, 'torch' in sys.modules, 'transformers' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    level, torch_loaded, transformers_loaded = result.stdout.split()
    assert Level.parse(level) >= Level.URGENT
    assert (torch_loaded, transformers_loaded) == ("False", "False")
