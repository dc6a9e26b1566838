"""Real data sets by name: their files (size, SHA-256, mirrors in order), classes, counts, license, source.

The values are the ones TensorFlow Datasets and Hugging Face record (sizes and SHA-256s, which agree
with torchvision's and Keras' pins) and fast.ai publishes (the current Imagenette archives), verbatim.
Two notes:
- Mirrors are tried in the order listed; yann.lecun.com, once MNIST's home, is gone and is not listed.
- imagewoof-160's current SHA-256 is published nowhere we could verify (fast.ai replaced the archives
  in 2021; only the old file's hash is on record), so its entry pins the size alone (`sha256=""`):
  the fetch checks the size, computes the SHA-256 and records it in the data set's manifest, and says so.

A site mirror (`--mirror URL`, or LTH_HARNESS_DATA_MIRROR) holds the files under their own names:
`URL/<file name>` is tried before the catalog's mirrors (`with_mirror`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from pipelines.data.transfer import Remote
from pipelines.errors import UserInputError
from pipelines.registry import Registry

MIRROR_ENV = "LTH_HARNESS_DATA_MIRROR"  # read by the command line as --mirror's default


@dataclass(frozen=True)
class DataSet:
    name: str
    files: tuple[Remote, ...]
    unpacker: str  # a name in pipelines.data.unpack.UNPACKERS
    classes: tuple[str, ...]  # class names in label order
    train: int
    val: int
    license: str
    homepage: str
    image_size: int  # pixels of the shorter side: the size of its shards (`harness data fetch --shards`)
    folders: tuple[str, ...] = ()  # the archive's class folders (wnids), for a tarball already in folder layout
    root: str = ""  # the archive's top folder, for a tarball already in folder layout

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _files(bases: tuple[str, ...], pinned: tuple[tuple[str, int, str], ...]) -> tuple[Remote, ...]:
    return tuple(Remote(name, size, sha256, tuple(base + name for base in bases)) for name, size, sha256 in pinned)


def with_mirror(entry: DataSet, mirror: str | None) -> DataSet:
    """`entry` with `mirror/<file name>` tried first for every file; `mirror` None leaves it as it is."""
    if not mirror:
        return entry
    parts = urlsplit(mirror)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserInputError(f"--mirror {mirror!r} is not an http(s) URL: give the base URL that holds the files "
                             "under their names, e.g. https://mirror.example/datasets/mnist/")
    base = mirror.rstrip("/") + "/"
    return replace(entry, files=tuple(replace(f, urls=(base + f.name, *f.urls)) for f in entry.files))


DATASETS: Registry[DataSet] = Registry("data set")


def _add(entry: DataSet, summary: str) -> None:
    DATASETS.add(entry.name, entry, summary)


MNIST_FILES = (("train-images-idx3-ubyte.gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
               ("train-labels-idx1-ubyte.gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
               ("t10k-images-idx3-ubyte.gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
               ("t10k-labels-idx1-ubyte.gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))
FASHION_FILES = (("train-images-idx3-ubyte.gz", 26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
                 ("train-labels-idx1-ubyte.gz", 29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
                 ("t10k-images-idx3-ubyte.gz", 4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
                 ("t10k-labels-idx1-ubyte.gz", 5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR100_CLASSES = tuple("""apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus
    butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch crab crocodile cup
    dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo keyboard lamp lawn_mower leopard lion
    lizard lobster man maple_tree motorcycle mountain mouse mushroom oak_tree orange orchid otter palm_tree pear
    pickup_truck pine_tree plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew
    skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television
    tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm""".split())
CIFAR_HOME = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR_LICENSE = "none stated (unknown)"
FASTAI = "https://s3.amazonaws.com/fast-ai-imageclas/"
FASTAI_LICENSE = "Apache-2.0 (ImageNet's terms may apply)"
IMAGENETTE = (("n01440764", "tench"), ("n02102040", "English springer"), ("n02979186", "cassette player"),
              ("n03000684", "chain saw"), ("n03028079", "church"), ("n03394916", "French horn"),
              ("n03417042", "garbage truck"), ("n03425413", "gas pump"), ("n03445777", "golf ball"),
              ("n03888257", "parachute"))
IMAGEWOOF = (("n02086240", "Shih-Tzu"), ("n02087394", "Rhodesian ridgeback"), ("n02088364", "beagle"),
             ("n02089973", "English foxhound"), ("n02093754", "Border terrier"), ("n02096294", "Australian terrier"),
             ("n02099601", "golden retriever"), ("n02105641", "Old English sheepdog"), ("n02111889", "Samoyed"),
             ("n02115641", "dingo"))

_add(DataSet("mnist", _files(("https://ossci-datasets.s3.amazonaws.com/mnist/",
                              "https://storage.googleapis.com/cvdf-datasets/mnist/"), MNIST_FILES),
             "idx-gzip", tuple(str(d) for d in range(10)), 60000, 10000, "CC BY-SA 3.0",
             "http://yann.lecun.com/exdb/mnist/", 28), "handwritten digits, 28x28 grayscale")
_add(DataSet("fashion-mnist", _files(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                                      "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
                                     FASHION_FILES),
             "idx-gzip", ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                          "Ankle boot"), 60000, 10000, "MIT", "https://github.com/zalandoresearch/fashion-mnist",
             28),
     "Zalando's clothing images, 28x28 grayscale")
_add(DataSet("cifar10", _files(("https://www.cs.toronto.edu/~kriz/",), (
    ("cifar-10-python.tar.gz", 170498071, "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"),)),
             "cifar10", CIFAR10_CLASSES, 50000, 10000, CIFAR_LICENSE, CIFAR_HOME, 32), "32x32 RGB, 10 classes")
_add(DataSet("cifar100", _files(("https://www.cs.toronto.edu/~kriz/",), (
    ("cifar-100-python.tar.gz", 169001437, "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"),)),
             "cifar100", CIFAR100_CLASSES, 50000, 10000, CIFAR_LICENSE, CIFAR_HOME, 32),
     "32x32 RGB, 100 fine classes")
for _size, _sha in ((160, "64d0c4859f35a461889e0147755a999a48b49bf38a7e0f9bd27003f10db02fe5"),
                    (320, "569b4497c98db6dd29f335d1f109cf315fe127053cedf69010d047f0188e158c")):
    _add(DataSet(f"imagenette-{_size}", _files((FASTAI,), ((f"imagenette2-{_size}.tgz",
                                                            {160: 99003388, 320: 341663724}[_size], _sha),)),
                 "image-tree", tuple(n for _, n in IMAGENETTE), 9469, 3925, FASTAI_LICENSE,
                 "https://github.com/fastai/imagenette", _size, folders=tuple(w for w, _ in IMAGENETTE),
                 root=f"imagenette2-{_size}"),
         f"10 easy ImageNet classes, JPEG, shortest side {_size} px")
_add(DataSet("imagewoof-160", _files((FASTAI,), (("imagewoof2-160.tgz", 92612825, ""),)),
             "image-tree", tuple(n for _, n in IMAGEWOOF), 9025, 3929, FASTAI_LICENSE,
             "https://github.com/fastai/imagenette", 160, folders=tuple(w for w, _ in IMAGEWOOF),
             root="imagewoof2-160"),
     "10 dog breeds of ImageNet, JPEG, shortest side 160 px (SHA-256 not pinned: size only)")
