"""The official CycleGAN defaults (horse2zebra, 286 -> 256 crops, batch 1, 100 + 100 epochs).

Field names follow the official options (`options/base_options.py`,
`train_options.py`, `cycle_gan_model.py`). Override any field on the command line,
e.g. `--config.batch_size=8`.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    """Returns the default configuration."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    # "cycle_gan" (unpaired A and B) | "pix2pix" (paired, see configs/pix2pix.py)
    c.model = "cycle_gan"
    # Networks.
    c.input_nc = 3
    c.output_nc = 3
    c.ngf = 64
    c.ndf = 64
    c.netG = "resnet_9blocks"  # | "resnet_6blocks" | "unet_256" | "unet_128"
    # "basic" = 70x70 PatchGAN (3 layers); "n_layers" uses n_layers_D; "pixel" = 1x1 PixelGAN
    c.netD = "basic"
    c.n_layers_D = 3
    # "instance" | "batch" (running statistics in the train state) | "none" |
    # "instance_affine" (instance norm with a learned scale and shift, as some forks)
    c.norm = "instance"
    c.init_type = "normal"  # | "xavier" | "kaiming" | "orthogonal"
    c.init_gain = 0.02
    c.no_dropout = True
    # Losses.
    c.gan_mode = "lsgan"  # "lsgan" | "vanilla" | "wgangp" (no gradient penalty, as upstream)
    c.lambda_A = 10.0
    c.lambda_B = 10.0
    c.lambda_identity = 0.5
    c.lambda_L1 = 100.0  # pix2pix: weight of |G(A) - B|
    c.pool_size = 50
    # Optimiser and learning-rate policy: "linear" (constant for n_epochs, then linearly to 0
    # over n_epochs_decay), "step" (x0.1 every lr_decay_iters epochs), "plateau" (x0.2 every
    # 6 epochs from epoch 7, as upstream's metric is always 0), "cosine" (period 2 n_epochs).
    c.lr = 2e-4
    c.beta1 = 0.5
    c.lr_policy = "linear"
    c.lr_decay_iters = 50
    c.n_epochs = 100
    c.n_epochs_decay = 100
    c.epoch_count = 1
    # Iterations per epoch; train.py sets it from the dataset (1334 = horse2zebra at batch 1).
    c.steps_per_epoch = 1334
    # Input. dataset: "tfds" (cycle_gan/<tfds_name>), "folder" (dataroot/{trainA,trainB,testA,testB})
    # or "synthetic" (embedded apples -> oranges, rendered from the seed; nothing to download).
    c.dataset = "tfds"
    c.tfds_name = "horse2zebra"
    c.tfds_data_dir = ""  # empty: TFDS's default (~/tensorflow_datasets or $TFDS_DATA_DIR)
    c.dataroot = ""
    c.synthetic_train_size = 256
    c.synthetic_test_size = 32
    c.synthetic_image_size = 128
    c.max_dataset_size = 0  # 0: no limit (the official default is inf)
    c.batch_size = 1
    c.load_size = 286
    c.crop_size = 256
    c.preprocess = "resize_and_crop"  # | "crop" | "scale_width" | "scale_width_and_crop"
    c.no_flip = False
    # pix2pix: "AtoB" translates the left half of each aligned image into the right, "BtoA"
    # the right into the left (input_nc is then the right half's channels).
    c.direction = "AtoB"
    c.serial_batches = False
    # Program. Frequencies count training steps (iterations).
    c.num_train_steps = -1  # -1: the whole schedule, (n_epochs + n_epochs_decay) epochs
    c.log_every = 100
    c.sample_every = 1000
    c.checkpoint_every = 5000
    c.keep_checkpoints = 3
    # Checkpoints are written in the background while training goes on (False: each save
    # waits until its files are complete).
    c.async_checkpoints = True
    c.num_sample_images = 4
    # Numerics: "float32" or "bfloat16" (mixed precision: params and norms stay float32).
    c.dtype = "float32"
    # Recompute the generators' residual blocks in the backward pass: less memory, more time.
    c.remat = False
    # Convolution form: "auto" (matrix-multiply forms on CPU, "s2d" on GPU, "xla" on TPU),
    # "s2d" (XLA's convolutions, those from and to RGB by space-to-depth), "xla" or
    # "matmul". Same results up to float rounding.
    c.conv_impl = "auto"
    # XLA's compiled programs are kept here, so that a resumed or repeated run loads its
    # train step instead of compiling it again (tens of seconds); "" turns this off, and
    # JAX_COMPILATION_CACHE_DIR, if set, wins. Only share it with people you trust: JAX
    # runs what it finds there.
    c.compilation_cache_dir = "~/.cache/cyclegan_jax/xla"
    return c
