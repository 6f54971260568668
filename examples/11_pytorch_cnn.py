"""Seed 003's PyTorch CNN, completed and trained on MNIST with minidl.torch.

The seed's snippet defines the network and the optimizer but cannot run as posted:

1. ``forward`` calls ``self.num_flat_features(x)``, which the snippet never defines. It is
   the helper of PyTorch's classic "neural networks" tutorial (the product of every size
   but the batch's); it is added below, as that tutorial writes it.
2. ``fc1 = nn.Linear(6 * 6 * 16, 120)`` does not fit a 28×28 MNIST image: Conv2d(1, 6, 3)
   gives 6×26×26, max-pooling by 2 gives 6×13×13, so fc1 takes 6·13·13 = 1014 inputs.

Nothing else is changed: the network still ends with ``F.relu(self.fc1(x))`` (120
non-negative scores, of which the 10 digits' are used by the loss), and the optimizer is
the seed's ``optim.SGD(net.parameters(), lr=0.001, momentum=0.9)`` with
``nn.CrossEntropyLoss()``. The seed leaves the data and loop out ("..."): here they are
the standard PyTorch loop over a ``DataLoader`` of 10,000 MNIST images, batches of 4 (the
batch size of PyTorch's tutorial that uses this same optimizer), one epoch.

Run:  python examples/11_pytorch_cnn.py [--quick]
"""

import argparse
import time

import minidl.torch as torch
import minidl.torch.nn as nn
import minidl.torch.nn.functional as F
import minidl.torch.optim as optim
from minidl.datasets import mnist
from minidl.torch.utils.data import DataLoader, TensorDataset


# 모델 초기화 (the seed's network, with the two fixes marked)
class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()  # noqa: UP008 - the seed's line
        self.conv1 = nn.Conv2d(1, 6, 3)
        self.fc1 = nn.Linear(6 * 13 * 13, 120)  # FIX: the seed's 6 * 6 * 16 does not fit

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(x, 2)
        x = x.view(-1, self.num_flat_features(x))
        x = F.relu(self.fc1(x))
        return x

    def num_flat_features(self, x):  # FIX: called by the seed, defined as in the tutorial
        size = x.size()[1:]  # all dimensions except the batch dimension
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2,000 images")
    parser.add_argument("--train-size", type=int, default=10_000)
    args = parser.parse_args(argv)
    torch.manual_seed(0)

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    n_train, n_test = (2000, 1000) if args.quick else (args.train_size, len(x_test))
    images = torch.from_numpy(x_train[:n_train]).float().unsqueeze(1) / 255.0
    labels = torch.from_numpy(y_train[:n_train]).long()
    trainloader = DataLoader(TensorDataset(images, labels), batch_size=4, shuffle=True)

    net = Net()
    optimizer = optim.SGD(net.parameters(), lr=0.001, momentum=0.9)
    criterion = nn.CrossEntropyLoss()

    start = time.perf_counter()
    running_loss = 0.0
    for i, (inputs, targets) in enumerate(trainloader):
        optimizer.zero_grad()
        outputs = net(inputs)
        loss = criterion(outputs, targets)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()
        if i % 500 == 499:
            print(f"[1, {i + 1:5d}] loss: {running_loss / 500:.3f}")
            running_loss = 0.0
    print(f"Epoch 1 on {n_train} images: {time.perf_counter() - start:.1f}s")

    test_images = torch.from_numpy(x_test[:n_test]).float().unsqueeze(1) / 255.0
    net.eval()
    with torch.no_grad():
        predicted = net(test_images).argmax(dim=1)
    accuracy = (predicted == torch.from_numpy(y_test[:n_test]).long()).float().mean().item()
    print(f"Test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
