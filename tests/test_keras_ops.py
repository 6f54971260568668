"""``keras.ops``, ``keras.random`` and weights as Keras variables.

Every differentiable ``keras.ops`` function is compared with PyTorch (values and gradients);
the others with NumPy. The functions must be aliases of existing ops, never a second
implementation: a test reads ``numpy.py`` and ``nn_api.py`` for ``Op`` subclasses.
"""

import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import check_op

import minidl as keras
from minidl import ops
from minidl.ops import nn_api
from minidl.ops import numpy as ops_numpy
from minidl.tensor import Op, Tensor
from minidl.testing import gradcheck

# (name, minidl function, torch function, input shapes, options for check_op)
DIFFERENTIABLE = [
    ("square", ops.square, torch.square, [(3, 4)], {}),
    ("sqrt", ops.sqrt, torch.sqrt, [(3, 4)], {"low": 0.1}),
    ("abs", ops.abs, torch.abs, [(5,)], {}),
    ("absolute", ops.absolute, torch.abs, [(5,)], {}),
    ("exp", ops.exp, torch.exp, [(2, 3)], {}),
    ("log", ops.log, torch.log, [(2, 3)], {"low": 0.1}),
    ("negative", ops.negative, torch.neg, [(4,)], {}),
    ("add", ops.add, torch.add, [(2, 3), (3,)], {}),
    ("subtract", ops.subtract, torch.sub, [(2, 3), (2, 1)], {}),
    ("multiply", ops.multiply, torch.mul, [(2, 3), (3,)], {}),
    ("divide", ops.divide, torch.div, [(2, 3), (3,)], {"low": 0.5}),
    ("power_const", lambda x: ops.power(x, 3), lambda x: torch.pow(x, 3), [(4,)], {}),
    ("power_tensor", ops.power, torch.pow, [(4,), (4,)], {"low": 0.5}),
    ("clip", lambda x: ops.clip(x, -0.5, 0.7), lambda x: torch.clamp(x, -0.5, 0.7),
     [(3, 4)], {}),
    ("maximum", ops.maximum, torch.maximum, [(3, 4), (4,)], {}),
    ("minimum", ops.minimum, torch.minimum, [(3, 4), (3, 4)], {}),
    ("matmul", ops.matmul, torch.matmul, [(3, 4), (4, 2)], {}),
    ("matmul_batched", ops.matmul, torch.matmul, [(2, 3, 4), (4, 5)], {}),
    ("dot_matrices", ops.dot, torch.matmul, [(3, 4), (4, 2)], {}),
    ("dot_vectors", ops.dot, torch.dot, [(4,), (4,)], {}),
    ("sum", lambda x: ops.sum(x, axis=1), lambda x: torch.sum(x, 1), [(3, 4)], {}),
    ("mean_keepdims", lambda x: ops.mean(x, axis=-1, keepdims=True),
     lambda x: torch.mean(x, -1, keepdim=True), [(3, 4)], {}),
    ("max", lambda x: ops.max(x, axis=0), lambda x: torch.amax(x, 0), [(3, 4)], {}),
    ("min", ops.min, torch.amin, [(3, 4)], {}),
    ("std", lambda x: ops.std(x, axis=1), lambda x: torch.std(x, 1, correction=0),
     [(3, 5)], {}),
    ("var", lambda x: ops.var(x, axis=0), lambda x: torch.var(x, 0, correction=0),
     [(4, 3)], {}),
    # Keras's logsumexp reduces every axis by default.
    ("logsumexp", ops.logsumexp, lambda x: torch.logsumexp(x, (0, 1)), [(3, 4)], {}),
    ("reshape", lambda x: ops.reshape(x, (4, -1)), lambda x: x.reshape(4, -1), [(2, 6)], {}),
    ("ravel", ops.ravel, torch.ravel, [(2, 3)], {}),
    ("transpose", ops.transpose, lambda x: x.permute(2, 1, 0), [(2, 3, 4)], {}),
    ("expand_dims", lambda x: ops.expand_dims(x, 1), lambda x: x.unsqueeze(1), [(2, 3)], {}),
    ("squeeze", lambda x: ops.squeeze(x, 1), lambda x: x.squeeze(1), [(2, 1, 3)], {}),
    ("concatenate", lambda a, b: ops.concatenate([a, b], axis=1),
     lambda a, b: torch.cat([a, b], 1), [(2, 3), (2, 2)], {}),
    ("stack", lambda a, b: ops.stack([a, b], axis=-1),
     lambda a, b: torch.stack([a, b], -1), [(2, 3), (2, 3)], {}),
    ("where", lambda a, b: ops.where(a > 0, a, b), lambda a, b: torch.where(a > 0, a, b),
     [(3, 4), (3, 4)], {}),
    ("cast_float64", lambda x: ops.cast(x, "float64"), lambda x: x.to(torch.float64),
     [(3,)], {}),
    ("relu", ops.relu, torch.relu, [(3, 4)], {}),
    ("sigmoid", ops.sigmoid, torch.sigmoid, [(3, 4)], {}),
    ("tanh", ops.tanh, torch.tanh, [(3, 4)], {}),
    ("softplus", ops.softplus, F.softplus, [(3, 4)], {}),
    ("softmax", ops.softmax, lambda x: torch.softmax(x, -1), [(3, 4)], {}),
    ("softmax_axis0", lambda x: ops.softmax(x, axis=0), lambda x: torch.softmax(x, 0),
     [(3, 4)], {}),
    ("log_softmax", ops.log_softmax, lambda x: torch.log_softmax(x, -1), [(3, 4)], {}),
    ("silu", ops.silu, F.silu, [(3, 4)], {}),
    # Keras's defaults: gelu is the tanh approximation, leaky_relu's slope is 0.2.
    ("gelu", ops.gelu, lambda x: F.gelu(x, approximate="tanh"), [(3, 4)], {}),
    ("gelu_exact", lambda x: ops.gelu(x, approximate=False), F.gelu, [(3, 4)], {}),
    ("leaky_relu", ops.leaky_relu, lambda x: F.leaky_relu(x, 0.2), [(3, 4)], {}),
    ("elu", ops.elu, F.elu, [(3, 4)], {}),
]


@pytest.mark.parametrize("name, fn, torch_fn, shapes, options", DIFFERENTIABLE,
                         ids=[row[0] for row in DIFFERENTIABLE])
def test_differentiable_keras_ops_match_torch(name, fn, torch_fn, shapes, options):
    check_op(fn, torch_fn, shapes, **options)


def test_keras_ops_are_aliases_never_a_second_implementation():
    for module in (ops_numpy, nn_api):
        own_ops = [name for name, value in vars(module).items()
                   if inspect.isclass(value) and issubclass(value, Op)]
        assert own_ops == [], f"{module.__name__} defines ops {own_ops}"
    # Each differentiable function records an existing op of the engine.
    x = Tensor([1.0, -2.0], requires_grad=True)
    assert type(ops.square(x).op).__name__ == "Pow"
    assert type(ops.clip(x, 0, 1).op).__name__ == "Clip"
    assert type(ops.matmul(x, x).op).__name__ == "MatMul"


def test_every_name_of_the_issue_is_in_keras_ops():
    names = ("matmul dot sum mean max min square sqrt abs exp log clip maximum minimum where "
             "concatenate stack reshape transpose expand_dims squeeze ones zeros shape cast "
             "one_hot argmax relu sigmoid softmax log_softmax convert_to_tensor "
             "convert_to_numpy").split()
    missing = [n for n in names if not callable(getattr(keras.ops, n, None))]
    assert missing == []
    # The op modules stay importable under their own names.
    assert keras.ops.elementwise.Exp is not None and keras.ops.reduce.Sum is not None


def test_ops_accept_numpy_arrays_and_numbers_and_return_tensors():
    y_true = np.array([[1.0, 2.0]], dtype="float32")
    y_pred = Tensor([[1.5, 1.0]], requires_grad=True)
    loss = ops.mean(ops.square(y_true - y_pred), axis=-1)
    assert isinstance(loss, Tensor)
    np.testing.assert_allclose(loss.numpy(), [(0.25 + 1.0) / 2])
    ops.sum(loss).backward()
    np.testing.assert_allclose(y_pred.grad, [[2 * 0.5 / 2, 2 * -1.0 / 2]])  # 2(p - t)/n
    assert ops.add(1.0, np.float32(2)).numpy() == 3.0


def test_non_differentiable_ops_against_numpy():
    x = np.array([[0.3, -1.2, 2.5], [1.0, 4.0, -3.0]], dtype="float32")
    t = Tensor(x, requires_grad=True)
    np.testing.assert_array_equal(ops.argmax(t, axis=1).numpy(), [2, 1])
    np.testing.assert_array_equal(ops.argmin(t, axis=-1).numpy(), [1, 2])
    assert ops.argmax(t).item() == 4  # a flat index without axis, as NumPy
    assert ops.argmax(t).dtype == np.int32
    np.testing.assert_array_equal(ops.greater(t, 0.5).numpy(), x > 0.5)
    np.testing.assert_array_equal(ops.equal(t, x).numpy(), np.ones_like(x, dtype=bool))
    np.testing.assert_array_equal(ops.round(t).numpy(), np.round(x))
    np.testing.assert_array_equal(ops.sign(t).numpy(), np.sign(x))
    assert not ops.argmax(t).requires_grad and not ops.round(t).requires_grad
    assert ops.shape(t) == (2, 3) and ops.ndim(t) == 2 and ops.size(t) == 6
    assert isinstance(ops.convert_to_numpy(t), np.ndarray)
    np.testing.assert_array_equal(ops.convert_to_numpy(t), x)
    assert ops.convert_to_tensor(t) is t
    assert ops.convert_to_tensor([1, 2]).dtype == np.float32  # lists become floatx
    assert ops.convert_to_tensor(x, dtype="float64").dtype == np.float64
    assert ops.cast(t, "int32").dtype == np.int32 and not ops.cast(t, "int32").requires_grad


def test_constructors():
    assert ops.zeros((2, 3)).dtype == np.float32 and ops.zeros((2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(ops.ones((2,), dtype="int32").numpy(), [1, 1])
    np.testing.assert_array_equal(ops.full((2,), 7.0).numpy(), [7.0, 7.0])
    np.testing.assert_array_equal(ops.eye(3).numpy(), np.eye(3))
    np.testing.assert_array_equal(ops.arange(1, 7, 2).numpy(), [1, 3, 5])
    like = ops.zeros_like(Tensor(np.ones((2, 2), dtype="float64")))
    assert like.dtype == np.float64 and like.numpy().sum() == 0
    keras.config.set_floatx("float64")
    assert ops.ones((1,)).dtype == np.float64


def test_one_hot_against_torch():
    labels = np.array([2, 0, 1, 2])
    expected = F.one_hot(torch.from_numpy(labels), 3).numpy()
    out = ops.one_hot(labels, 3)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), expected)
    np.testing.assert_array_equal(ops.one_hot(labels, 3, axis=0).numpy(), expected.T)
    # Keras (tf.one_hot): a label outside [0, num_classes) gives a row of zeros.
    np.testing.assert_array_equal(ops.one_hot([3, -1], 3).numpy(), np.zeros((2, 3)))


def test_where_needs_both_branches():
    with pytest.raises(ValueError, match="give both x1 and x2"):
        ops.where(np.array([True]), 1.0)


def test_a_custom_layer_written_with_keras_ops_trains_like_the_hand_computation():
    # The keras.io subclassing guide's Linear layer, its call written with keras.ops.
    w = np.array([[0.5], [-1.0]], dtype="float32")
    x = np.array([[1.0, 2.0], [3.0, -1.0]], dtype="float32")
    y = np.array([[1.0], [0.0]], dtype="float32")
    kernel = Tensor(w.copy(), requires_grad=True)
    pred = ops.relu(ops.matmul(x, kernel))
    loss = ops.mean(ops.square(pred - y))
    loss.backward()
    z = x @ w
    expected = x.T @ (2 * (np.maximum(z, 0) - y) * (z > 0)) / len(x)
    np.testing.assert_allclose(kernel.grad, expected, rtol=1e-6)


# ---- keras.random --------------------------------------------------------------------------


def test_an_int_seed_gives_the_same_numbers_every_call():
    a = keras.random.normal((4,), seed=3).numpy()
    b = keras.random.normal((4,), seed=3).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, keras.random.normal((4,), seed=4).numpy())


def test_a_seed_generator_advances_and_repeats_from_its_seed():
    first = keras.random.SeedGenerator(7)
    a1 = keras.random.uniform((3,), seed=first).numpy()
    a2 = keras.random.uniform((3,), seed=first).numpy()
    assert not np.array_equal(a1, a2)
    again = keras.random.SeedGenerator(7)
    np.testing.assert_array_equal(keras.random.uniform((3,), seed=again).numpy(), a1)
    np.testing.assert_array_equal(keras.random.uniform((3,), seed=again).numpy(), a2)


def test_no_seed_follows_set_random_seed():
    keras.utils.set_random_seed(11)
    a = keras.random.normal((3,)).numpy()
    keras.utils.set_random_seed(11)
    np.testing.assert_array_equal(keras.random.normal((3,)).numpy(), a)


def test_distributions_have_the_asked_moments_and_ranges():
    n = 200_000
    normal = keras.random.normal((n,), mean=2.0, stddev=3.0, seed=1).numpy()
    # Standard errors: 3/sqrt(n) ≈ 0.0067 for the mean; a 5-sigma band.
    assert abs(normal.mean() - 2.0) < 0.034 and abs(normal.std() - 3.0) < 0.03
    assert normal.dtype == np.float32
    uniform = keras.random.uniform((n,), minval=-1.0, maxval=3.0, seed=2).numpy()
    assert uniform.min() >= -1.0 and uniform.max() < 3.0 and abs(uniform.mean() - 1.0) < 0.02
    ints = keras.random.randint((n,), 2, 5, seed=3).numpy()
    assert ints.dtype == np.int32 and set(np.unique(ints)) == {2, 3, 4}
    truncated = keras.random.truncated_normal((n,), stddev=2.0, seed=4).numpy()
    assert np.abs(truncated).max() <= 4.0


def test_random_dropout_scales_the_kept_and_its_gradient_is_the_mask():
    x = Tensor(np.ones((200, 50), dtype="float32"), requires_grad=True)
    out = keras.random.dropout(x, 0.25, seed=5)
    values = set(np.unique(out.numpy()).tolist())
    assert values <= {0.0, np.float32(1 / 0.75)}
    assert abs((out.numpy() != 0).mean() - 0.75) < 0.02
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, out.numpy())  # dx = mask / (1 - rate) = out / x
    same = keras.random.dropout(np.ones((200, 50), dtype="float32"), 0.25, seed=5)
    np.testing.assert_array_equal(same.numpy(), out.numpy())


def test_shuffle_permutes_along_an_axis_and_passes_gradients_back():
    x = Tensor(np.arange(12, dtype="float32").reshape(4, 3), requires_grad=True)
    out = keras.random.shuffle(x, seed=0)
    assert sorted(out.numpy()[:, 0].tolist()) == [0.0, 3.0, 6.0, 9.0]
    np.testing.assert_array_equal(out.numpy()[:, 1] - out.numpy()[:, 0], 1.0)  # rows intact
    (out * Tensor(np.arange(12, dtype="float32").reshape(4, 3))).sum().backward()
    order = (out.numpy()[:, 0] / 3).astype(int)
    np.testing.assert_array_equal(x.grad[order], np.arange(12).reshape(4, 3))


def test_bad_seed_is_a_type_error():
    with pytest.raises(TypeError, match="seed must be an int, a SeedGenerator or None"):
        keras.random.normal((2,), seed=1.5)


# ---- weights as Keras variables ------------------------------------------------------------


def test_layer_weights_behave_as_keras_variables():
    layer = keras.layers.Dense(2)
    layer(np.zeros((1, 3), dtype="float32"))  # builds the kernel
    kernel = layer.kernel
    before = kernel._version
    kernel.assign(np.ones((3, 2)))
    kernel.assign_add(np.full((3, 2), 0.5))
    kernel.assign_sub(Tensor(np.full((3, 2), 0.25, dtype="float32")))
    np.testing.assert_array_equal(kernel.numpy(), np.full((3, 2), 1.25))
    assert kernel.value is kernel
    assert kernel._version == before + 3  # graphs that saved the old value will refuse
    # The layer computes with the assigned value.
    out = layer(np.ones((1, 3), dtype="float32"))
    np.testing.assert_allclose(out.numpy(), [[3.75, 3.75]])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_batch_normalization_matches_torch_in_inference_mode(dtype):
    # Keras's ops.batch_normalization(x, mean, variance, axis, offset, scale, epsilon) is
    # torch's batch_norm with given statistics (training=False), here on axis 1 (NCHW).
    def minidl_fn(x, mean, variance, offset, scale):
        return ops.batch_normalization(x, mean, variance, axis=1, offset=offset, scale=scale,
                                       epsilon=1e-3)

    def torch_fn(x, mean, variance, offset, scale):
        return F.batch_norm(x, mean, variance, weight=scale, bias=offset, training=False,
                            eps=1e-3)

    # torch does not differentiate batch_norm w.r.t. its statistics: they are constants
    # here, and finite differences check their gradients below.
    check_op(minidl_fn, torch_fn, [(2, 3, 4, 5), (3,), (3,), (3,), (3,)], dtype,
             low=[-2.0, -1.0, 0.1, -1.0, 0.5], high=[2.0, 1.0, 2.0, 1.0, 1.5], nondiff=(1, 2))
    if dtype == "float64":
        rng = np.random.default_rng(1)
        inputs = [Tensor(rng.uniform(lo, hi, shape), requires_grad=True) for lo, hi, shape in
                  [(-2, 2, (2, 3, 4)), (-1, 1, (3,)), (0.1, 2, (3,)), (-1, 1, (3,)),
                   (0.5, 1.5, (3,))]]
        assert gradcheck(minidl_fn, inputs)


def test_batch_normalization_without_offset_and_scale_on_the_last_axis():
    x = np.arange(12.0).reshape(4, 3)
    mean, variance = x.mean(axis=0), x.var(axis=0)
    out = ops.batch_normalization(x, mean, variance, axis=-1, epsilon=0.0).numpy()
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(variance), rtol=1e-12)


def test_average_pool_is_kerass_name_for_the_average_pooling_op():
    x = np.random.default_rng(0).standard_normal((2, 5, 5, 3))
    got = ops.average_pool(x, 2, strides=1, padding="valid").numpy()
    want = F.avg_pool2d(torch.tensor(x).permute(0, 3, 1, 2), 2, stride=1).permute(0, 2, 3, 1)
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)
    assert ops.average_pool is ops.avg_pool
