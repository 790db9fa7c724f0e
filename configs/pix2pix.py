"""The official pix2pix defaults (`--model pix2pix`: facades-style aligned pairs, 286 -> 256
crops, batch 1, 100 + 100 epochs).

`python train.py --workdir=runs/facades --config=configs/pix2pix.py --config.dataroot=DIR`
reads DIR/train/*.jpg, each image holding A (left) and B (right) side by side; eval.py
reads DIR/test. A U-Net (unet_256) with batch norm and dropout, a basic PatchGAN that sees
the input and the output together (6 channels), the vanilla GAN loss plus 100 x L1, no
image pool. `--config.direction=BtoA` translates right into left (the official facades
models are trained BtoA: labels -> photo).
"""

from configs import default


def get_config():
    c = default.get_config()
    c.model = "pix2pix"
    c.netG = "unet_256"
    c.norm = "batch"
    c.no_dropout = False
    c.gan_mode = "vanilla"
    c.lambda_L1 = 100.0
    c.pool_size = 0
    c.lambda_identity = 0.0  # a CycleGAN term; pix2pix has none
    c.dataset = "folder"
    c.direction = "AtoB"
    c.steps_per_epoch = 400  # train.py sets it from the dataset (400 = facades at batch 1)
    return c
