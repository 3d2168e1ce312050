"""Residual MLPs, ResNets, the Transformer, modular arithmetic and optimizers by name, each against plain PyTorch:
the same network written by hand with the same weights gives the same outputs and gradients; steps equal torch.optim's."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reportgen.compute import data, models, optim
from reportgen.declare import MLP, ModularArithmetic, Optim, ResNet, SpecError, Tanh, Transformer

pytestmark = pytest.mark.usefixtures("one_thread")


def same_outputs_and_gradients(model, reference, x, params=None):
    """model(x) and reference(x) agree, and so do the gradients of the model's parameters and of `params` (the
    reference's, in the same order; by default the model's own)."""
    y = torch.randint(0, 3, (len(x),), generator=torch.Generator().manual_seed(1))
    out = model(x)
    F.cross_entropy(out, y).backward()
    ours = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    theirs = reference(x)
    F.cross_entropy(theirs, y).backward()
    torch.testing.assert_close(out, theirs)
    for a, p in zip(ours, params or list(model.parameters()), strict=True):
        torch.testing.assert_close(a, p.grad)


def test_residual_mlp_is_the_hand_written_one_with_the_same_seed():
    torch.manual_seed(0)
    model = models.build(MLP(depth=5, width=8, activation=Tanh(), multiplier=2.0, residual=True), (1, 4, 4), 3)
    torch.manual_seed(0)  # the same draws in the same order: nn.Linear's default initialisation
    layers = [nn.Linear(16, 8), *(nn.Linear(8, 8) for _ in range(3)), nn.Linear(8, 3)]
    with torch.no_grad():
        for layer in layers[1:]:
            layer.weight.mul_(2.0)
    for a, b in zip(model.parameters(), (p for layer in layers for p in layer.parameters()), strict=True):
        assert torch.equal(a, b)

    def reference(x):
        h = layers[0](x.flatten(1))
        for layer in layers[1:-1]:
            h = h + layer(torch.tanh(h))
        return layers[-1](torch.tanh(h))
    same_outputs_and_gradients(model, reference, torch.randn(6, 1, 4, 4),
                               [p for layer in layers for p in layer.parameters()])
    # only the hidden layers are wrapped: the gradient diagram's rows stay one per Linear, in order
    assert [n for n, _ in model.named_parameters()][::2] == ["1.weight", "2.body.1.weight", "3.body.1.weight",
                                                             "4.body.1.weight", "6.weight"]


@pytest.mark.parametrize("skip", [True, False])
def test_resnet_is_the_hand_written_one(skip):
    spec = ResNet(channels=(4, 8), blocks=2, skip=skip)
    model = models.build(spec, (2, 8, 8), 3).train()
    p = dict(model.named_parameters())
    assert sum(v.numel() for v in p.values()) == spec.parameters(type("D", (), {"shape": (2, 8, 8), "classes": 3}))

    def conv_bn(x, name, stride=1):
        w = p[f"{name}.0.weight"]
        x = F.conv2d(x, w, stride=stride, padding=w.shape[-1] // 2)
        return F.batch_norm(x, None, None, p[f"{name}.1.weight"], p[f"{name}.1.bias"], training=True)

    def reference(x):
        h = F.relu(conv_bn(x, "0"))
        for i, stride in zip(range(2, 6), (1, 1, 2, 1)):
            out = conv_bn(F.relu(conv_bn(h, f"{i}.first", stride)), f"{i}.second")
            if skip:
                out = out + (conv_bn(h, f"{i}.shortcut", stride) if stride == 2 else h)
            h = F.relu(out)
        return F.linear(h.mean((2, 3)), p["8.weight"], p["8.bias"])
    same_outputs_and_gradients(model, reference, torch.randn(5, 2, 8, 8))
    assert any("shortcut" in n for n in p) == skip


def test_transformer_block_is_torchs_own_encoder_layer_with_a_causal_mask():
    torch.manual_seed(0)
    spec = Transformer(layers=2, width=16, heads=4)
    model = models.build(spec, (4,), 7, 9)
    assert sum(v.numel() for v in model.parameters()) == spec.parameters(ModularArithmetic(p=7))
    theirs = []
    for block in model.blocks:  # torch's layer, given our block's weights
        layer = nn.TransformerEncoderLayer(16, 4, 64, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        layer.load_state_dict({"self_attn.in_proj_weight": block.qkv.weight, "self_attn.in_proj_bias": block.qkv.bias,
                               "self_attn.out_proj.weight": block.out.weight, "self_attn.out_proj.bias": block.out.bias,
                               "linear1.weight": block.mlp[0].weight, "linear1.bias": block.mlp[0].bias,
                               "linear2.weight": block.mlp[2].weight, "linear2.bias": block.mlp[2].bias,
                               **{f"norm{k}.{w}": getattr(block, f"norm{k}").state_dict()[w] for k in (1, 2)
                                  for w in ("weight", "bias")}})
        theirs.append(layer)
    x = torch.randint(0, 9, (5, 4))
    mask = nn.Transformer.generate_square_subsequent_mask(4)
    h = model.tokens(x) + model.positions.weight
    for layer in theirs:
        h = layer(h, src_mask=mask, is_causal=True)
    torch.testing.assert_close(model(x), model.head(model.norm(h)[:, -1]))


@pytest.mark.parametrize("op, fn", [("+", lambda a, b, p: (a + b) % p), ("-", lambda a, b, p: (a - b) % p),
                                    ("*", lambda a, b, p: a * b % p), ("/", lambda a, b, p: a * pow(b, -1, p) % p)])
def test_modular_arithmetic_is_every_equation_once(op, fn):
    d = data.load(ModularArithmetic(p=7, op=op, train_fraction=0.5))
    x, y = torch.cat([d.x_train, d.x_test]), torch.cat([d.y_train, d.y_test])
    pairs = {(a, b) for a in range(7) for b in range(7) if op != "/" or b}
    assert {(int(a), int(b)) for a, _, b, _ in x} == pairs and len(x) == len(pairs)
    assert all(int(c) == fn(int(a), int(b), 7) for (a, o, b, e), c in zip(x, y)) and d.vocab == 9
    assert set(x[:, 1].tolist()) == {7} and set(x[:, 3].tolist()) == {8}
    assert len(d.x_train) == round(0.5 * len(pairs))


@pytest.mark.parametrize("name, options", [("RMSprop", {"alpha": 0.9}), ("NAdam", {}), ("Adagrad", {"lr_decay": 0.01}),
                                           ("SGD", {"momentum": 0.9, "nesterov": True}), ("Adamax", {})])
def test_an_optimizer_by_name_steps_as_torchs_own(name, options):
    torch.manual_seed(0)
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    b.load_state_dict(a.state_dict())
    ours, theirs = optim.build(Optim(name=name, lr=0.01, options=options), a.parameters()), \
        getattr(torch.optim, name)(b.parameters(), lr=0.01, **options)
    for _ in range(3):
        for net, opt in ((a, ours), (b, theirs)):
            opt.zero_grad()
            net(torch.ones(2, 4)).square().sum().backward()
            opt.step()
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)


def test_muon_takes_the_hidden_matrices_and_adamw_the_rest_and_resumes():
    torch.manual_seed(0)
    net = models.build(MLP(depth=4, width=8), (1, 2, 2), 3)
    hidden = [net[3].weight, net[5].weight]   # the first and the last matrix go to AdamW, as torch's docs say
    rest = [p for p in net.parameters() if all(p is not h for h in hidden)]
    twin = models.build(MLP(depth=4, width=8), (1, 2, 2), 3)
    twin.load_state_dict(net.state_dict())
    ours = optim.build(Optim(name="Muon", lr=0.01), net.parameters())
    muon = torch.optim.Muon([twin[3].weight, twin[5].weight], lr=0.01, adjust_lr_fn="match_rms_adamw")
    adamw = torch.optim.AdamW([p for p in twin.parameters() if p is not twin[3].weight and p is not twin[5].weight], lr=0.01)
    assert [len(g["params"]) for g in ours.param_groups] == [2, len(rest)]
    x = torch.randn(5, 1, 2, 2)
    for step in range(3):
        if step == 2:  # a checkpoint in between: the state of both parts comes back
            saved = ours.state_dict()
            ours = optim.build(Optim(name="Muon", lr=0.01), net.parameters())
            ours.load_state_dict(saved)
        for model, opts in ((net, [ours]), (twin, [muon, adamw])):
            for opt in opts:
                opt.zero_grad()
            model(x).square().mean().backward()
            for opt in opts:
                opt.step()
    for a, b in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    scheduled = optim.schedule(Optim(name="Muon", lr=(0.01, 0.001)), ours, 10)
    ours.step()
    scheduled.step()  # a schedule sets the lr of both parts
    assert {g["lr"] for part in ours.parts for g in part.param_groups} == {0.01 * 0.1 ** (1 / 9)}


def test_an_unknown_optimizer_and_options_it_refuses_are_one_line():
    from reportgen.compute.checks import check_experiment
    from reportgen.declare import Experiment
    with pytest.raises(SpecError, match="Optim.name = 'RMSProp': allowed: .*RMSprop"):
        check_experiment(Experiment(name="a", optimizer=Optim(name="RMSProp")))
    with pytest.raises(SpecError, match="Optim.options = {'beta': 0.9}: RMSprop refuses them .*'beta'"):
        check_experiment(Experiment(name="a", optimizer=Optim(name="RMSprop", options={"beta": 0.9})))
    with pytest.raises(SpecError, match="Optim.options = {'alpha': -1.0}: RMSprop refuses them .*alpha"):
        check_experiment(Experiment(name="a", optimizer=Optim(name="RMSprop", options={"alpha": -1.0})))
