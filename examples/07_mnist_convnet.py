"""The keras.io "Simple MNIST convnet" on minidl.

The model, data preparation and training calls are the keras.io example's (Conv2D 32 ->
MaxPooling2D -> Conv2D 64 -> MaxPooling2D -> Flatten -> Dropout 0.5 -> Dense 10; Adam,
categorical cross-entropy, batch 128, validation_split 0.1), and the only change to them is
the import line:

    import keras   ->   import minidl as keras

Around them: 3 epochs instead of keras.io's 15 (it passes 98.5% test accuracy by then), a
callback that prints the time of each epoch, and --quick for CI.

Run:  python examples/07_mnist_convnet.py            (3 epochs on the 60,000 images)
      python examples/07_mnist_convnet.py --quick    (a 6,000-image subset, 1 epoch)

How the convolution runs: each layer's input windows are copied into the rows of one matrix
(im2col) and multiplied by the kernel on BLAS; the backward pass multiplies back and adds each
window's gradient to the pixels it read (col2im, a Numba loop).
"""

import argparse
import time

import numpy as np

import minidl as keras
from minidl import layers


class EpochTimer(keras.callbacks.Callback):
    """Prints how long each epoch took (the first one includes compiling the kernels).

    The time is printed when the next epoch starts (or training ends), so it comes after
    the progress bar's last line rather than inside it.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.report()
        self.epoch, self.start = epoch, time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds = time.perf_counter() - self.start

    def on_train_end(self, logs=None):
        self.report()

    def report(self):
        if getattr(self, "seconds", None) is not None:
            print(f"Epoch {self.epoch + 1} took {self.seconds:.1f} s")
            self.seconds = None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 6,000-image subset, 1 epoch")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1337)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)

    # ---- the keras.io example ---------------------------------------------------------
    # Model / data parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    if args.quick:
        x_train, y_train, x_test, y_test = x_train[:6000], y_train[:6000], x_test[:2000], \
            y_test[:2000]

    # Scale images to the [0, 1] range
    x_train = x_train.astype("float32") / 255
    x_test = x_test.astype("float32") / 255
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    print("x_train shape:", x_train.shape)
    print(x_train.shape[0], "train samples")
    print(x_test.shape[0], "test samples")

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )

    model.summary()

    batch_size = 128
    epochs = args.epochs or (1 if args.quick else 3)  # keras.io: 15

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1,
              callbacks=[EpochTimer()])

    score = model.evaluate(x_test, y_test, verbose=0)
    print("Test loss:", score[0])
    print("Test accuracy:", score[1])
    return score[1]


if __name__ == "__main__":
    main()
