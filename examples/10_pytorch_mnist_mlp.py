"""Seed 004's PyTorch MNIST program, run on minidl with only its imports changed.

The model, loss, optimizer and training loop below are the seed's, line for line. Two
things differ, both outside the model: the imports (``minidl.torch`` instead of ``torch``)
and the data, which comes from ``mnist.npz`` through ``TensorDataset``/``DataLoader``
instead of torchvision's ``datasets.MNIST`` + ``transforms.ToTensor()`` (the same tensors:
float32 images of shape (1, 28, 28) in [0, 1], int64 labels). It trains the seed's 5
epochs and, beyond the seed's print, reports the test accuracy after each epoch.

Run:  python examples/10_pytorch_mnist_mlp.py [--quick] [--epochs N]
"""

import argparse
import time

import minidl.torch as torch
import minidl.torch.nn as nn
import minidl.torch.optim as optim
from minidl.datasets import mnist
from minidl.torch.utils.data import DataLoader, TensorDataset


def mnist_tensors(quick):
    """MNIST as ToTensor() would give it: (N, 1, 28, 28) float32 in [0, 1], int64 labels."""
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    if quick:
        x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], \
            y_test[:2000]

    def as_tensors(x, y):
        images = torch.from_numpy(x).float().unsqueeze(1) / 255.0
        return images, torch.from_numpy(y).long()

    return as_tensors(x_train, y_train), as_tensors(x_test, y_test)


# 모델 정의 (the seed's model, unchanged)
class SimpleModel(nn.Module):
    def __init__(self):
        super(SimpleModel, self).__init__()  # noqa: UP008 - the seed's line
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(28*28, 128)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.flatten(x)
        x = self.relu(self.fc1(x))
        x = self.fc2(x)
        return x


def evaluate(model, images, labels):
    """The fraction of ``images`` whose highest score is at their label."""
    model.eval()
    with torch.no_grad():
        predicted = model(images).argmax(dim=1)
    return (predicted == labels).float().mean().item()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6,000 images, 1 epoch")
    parser.add_argument("--epochs", type=int, default=None, help="default 5 (1 with --quick)")
    args = parser.parse_args(argv)
    epochs = args.epochs or (1 if args.quick else 5)
    torch.manual_seed(0)

    (x_train, y_train), (x_test, y_test) = mnist_tensors(args.quick)
    train_data = TensorDataset(x_train, y_train)
    train_loader = DataLoader(train_data, batch_size=64, shuffle=True)

    # 모델 컴파일 (the seed's lines)
    model = SimpleModel()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters())

    # 모델 학습 (the seed's loop)
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train()
        for images, labels in train_loader:
            optimizer.zero_grad()
            output = model(images)
            loss = criterion(output, labels)
            loss.backward()
            optimizer.step()
        print(f"Epoch {epoch+1}, Loss: {loss.item()}")
        accuracy = evaluate(model, x_test, y_test)
        print(f"  test accuracy {accuracy:.4f} ({time.perf_counter() - start:.1f}s)")

    print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
