"""Models as a stage kind: every registered network builds, and every prunable kernel has the kind its
structure gives it (counted by hand for LeNet-300-100 and Conv-2; for Keras Applications checked
against Keras' own layer names); a user's own network from a module path, and each way it is refused."""

import collections
import subprocess
from dataclasses import replace

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.lth.masks import MaskSpec, model_masks, sparsity_report
from pipelines.train.model import build_model, kernel_kinds, kernel_values
from pipelines.train.models import MODELS
from pipelines.train.recipe import compile_model
from pipelines.train.recipe_schedule import ScheduleLength
from pipelines.train.workloads import WORKLOADS, get_workload
from tests.conftest import HARNESS

SMOKE = get_workload("smoke")


def workload(model: str, size: int = 32):
    return replace(SMOKE, model=model, image_size=size)


def kinds_and_sizes(model: str, size: int = 32, classes: int = 10):
    built = build_model(workload(model, size), classes, seed=0)
    values = kernel_values(built)
    return [(path, kind, values[path].size) for path, kind in kernel_kinds(built).items()]


def test_lenet_300_100_and_conv_2_have_the_papers_layers_and_kinds():
    assert kinds_and_sizes("lenet_300_100", size=28) == [
        ("fc1/kernel", "dense", 784 * 300), ("fc2/kernel", "dense", 300 * 100), ("logits/kernel", "classifier", 100 * 10)]
    assert kinds_and_sizes("conv2") == [
        ("conv1/kernel", "stem", 3 * 3 * 3 * 64), ("conv2/kernel", "conv", 3 * 3 * 64 * 64),
        ("fc1/kernel", "dense", 16 * 16 * 64 * 256), ("fc2/kernel", "dense", 256 * 256),
        ("logits/kernel", "classifier", 256 * 10)]  # 4.3M weights, as Frankle & Carbin's figure 2 counts


@pytest.mark.parametrize("model, counts", [
    ("conv4", {"stem": 1, "conv": 3, "dense": 2, "classifier": 1}),
    ("conv6", {"stem": 1, "conv": 5, "dense": 2, "classifier": 1}),
    ("resnet20", {"stem": 1, "conv": 18, "pointwise": 2, "classifier": 1}),  # two strided 1x1 shortcuts
    ("vgg16", {"stem": 1, "conv": 12, "classifier": 1}),
])
def test_the_cifar_networks_have_their_layers(model, counts):
    assert collections.Counter(kind for _, kind, _ in kinds_and_sizes(model)) == counts


# Keras' own names say what each layer is: the kinds, read from the structure alone, must agree.
APPLICATIONS = {
    "mobilenet_v2": {"stem": 1, "depthwise": 17, "pointwise": 34, "classifier": 1},
    "mobilenet_v3_small": {"stem": 1, "depthwise": 11, "pointwise": 22, "squeeze_excite": 18, "dense": 1,
                           "classifier": 1},
    "mobilenet_v3_large": {"stem": 1, "depthwise": 15, "pointwise": 30, "squeeze_excite": 16, "dense": 1,
                           "classifier": 1},
    "resnet50": {"stem": 1, "conv": 16, "pointwise": 36, "classifier": 1},
    "efficientnet_b0": {"stem": 1, "depthwise": 16, "pointwise": 32, "squeeze_excite": 32, "classifier": 1},
}
NAMED = {"depthwise": ("depthwise", "dwconv"), "squeeze_excite": ("squeeze_excite", "_se_")}


@pytest.mark.parametrize("model", APPLICATIONS)
def test_every_keras_application_kernel_has_the_kind_its_keras_name_says(model):
    found = kinds_and_sizes(model)  # 32 px: the last stages run on 1x1 maps, and kinds must not depend on it
    assert collections.Counter(kind for _, kind, _ in found) == APPLICATIONS[model]
    for path, kind, _ in found:
        for named, words in NAMED.items():
            assert (kind == named) == any(word in path for word in words), (path, kind)
    assert found[-1][1] == "classifier" and found[0][1] == "stem"
    if model == "mobilenet_v3_small":  # the head's 1x1 convolution after pooling is a fully connected layer
        assert [path for path, kind, _ in found if kind == "dense"] == ["conv_2/kernel"]


def test_only_trainable_kernels_are_prunable():
    built = build_model(workload("efficientnet_b0"), 10, seed=0)
    kernels = set(kernel_kinds(built))
    assert all(path.endswith("kernel") for path in kernels)
    untouchable = [v.path for v in built.weights if v.path not in kernels]
    assert any("normalization" in p for p in untouchable) and any(p.endswith("gamma") for p in untouchable)
    assert any(p.endswith("bias") for p in untouchable)


def test_every_registered_model_is_offered_with_its_source():
    names = set(MODELS)
    assert {"mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "resnet50", "efficientnet_b0",
            "lenet_300_100", "conv2", "conv4", "conv6", "resnet20", "vgg16"} == names
    assert all(MODELS[name].source for name in names)
    assert {WORKLOADS[name].model for name in WORKLOADS} <= names
    result = subprocess.run([str(HARNESS), "variants"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and all(name in result.stdout for name in names)


@pytest.mark.parametrize("model", ["lenet_300_100", "conv2", "resnet20"])
def test_a_small_network_trains_a_step_with_an_erk_mask_held(model):
    built = build_model(workload(model), 10, seed=1)
    masks = model_masks(built, MaskSpec("erk", 0.9))
    report = sparsity_report(masks, kernel_kinds(built))
    assert report["collapsed_layers"] == [] and report["pruned"] == round(0.9 * report["weights"])
    paper = get_workload({"lenet_300_100": "lenet-mnist"}.get(model, f"{model}-cifar"))  # its own recipe
    compile_model(built, paper.recipe, ScheduleLength(paper.epochs, 2), masks=masks)
    rng = np.random.default_rng(0)
    before = kernel_values(built)
    built.fit(rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), rng.integers(0, 10, 8), batch_size=4, epochs=1,
              verbose=0)
    after = kernel_values(built)
    assert all(not after[p][~m].any() for p, m in masks.items())  # pruned stay zero
    assert any((after[p][m] != before[p][m]).any() for p, m in masks.items())  # kept ones trained


USER_MODULE = '''
import keras

def good(input_shape, classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, name="mine_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="mine_logits")(x))

def softmax(input_shape, classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, activation="softmax")(x))

def wrong_shape(input_shape, classes):
    inputs = keras.Input(input_shape)
    return keras.Model(inputs, keras.layers.Dense(classes + 1)(keras.layers.Flatten()(inputs)))

def no_kernel(input_shape, classes):
    inputs = keras.Input(input_shape)
    x = keras.layers.GlobalAveragePooling2D()(inputs)
    return keras.Model(inputs, keras.layers.Lambda(lambda t: t[:, :1] * keras.ops.ones((1, classes)))(x))

def not_a_model(input_shape, classes):
    return "a model"

def raises(input_shape, classes):
    raise RuntimeError("out of ideas")
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "my_nets.py").write_text(USER_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_users_model_from_a_module_path_is_nested_and_pruned_like_any(user_module):
    built = build_model(workload("my_nets:good"), 3, seed=0)
    assert kernel_kinds(built) == {"mine_conv/kernel": "stem", "mine_logits/kernel": "classifier"}
    assert built.output.shape == (None, 3)


@pytest.mark.parametrize("name, message", [
    ("no_such_module:build", r"--model no_such_module:build: cannot import no_such_module \(ModuleNotFoundError"),
    ("my_nets:missing", "--model my_nets:missing: my_nets has no function missing"),
    ("my_nets:not_a_model", "returned a str, not a keras.Model"),
    ("my_nets:wrong_shape", r"gives outputs of shape \(None, 4\), not \(None, 3\)"),
    ("my_nets:softmax", "ends in a softmax: return logits"),
    ("my_nets:no_kernel", "has no prunable kernel"),
    ("my_nets:raises", "failed to build for input \\(32, 32, 3\\) and 3 classes: RuntimeError: out of ideas"),
    ("my_nets:", "neither a registered model nor of the form package.module:function"),
])
def test_a_users_model_that_cannot_be_trained_is_refused_in_one_line(user_module, name, message):
    from pipelines.train.models.user import user_network

    user_network.cache_clear()
    with pytest.raises(UserInputError, match=message) as error:
        build_model(workload(name), 3, seed=0)
    assert "\n" not in str(error.value)


def test_harness_lth_refuses_a_broken_user_model_before_any_work(user_module, tiny_data, tmp_path):
    out = tmp_path / "search"
    result = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), "--workload", "smoke", "--model",
                             "my_nets:softmax", "--out", str(out)], capture_output=True, text=True, timeout=300,
                            cwd=user_module)
    assert result.returncode == 2 and result.stderr.strip().count("\n") == 0, result.stderr
    assert "ends in a softmax" in result.stderr and not out.exists()
    unknown = subprocess.run([str(HARNESS), "lth", "--data", str(tiny_data), "--model", "lenet", "--out", str(out)],
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "unknown model 'lenet': choose one of mobilenet_v2" in unknown.stderr
