"""pix2pix on the embedded synthetic scenes, each an apple | orange pair: a few minutes on a
2-core CPU, nothing to download.

`python train.py --workdir=runs/pix2pix_demo --config=configs/pix2pix_demo.py`
A small U-Net (unet_128, ngf 16) at 128 x 128; sample grids (input | output | target) land
in `runs/pix2pix_demo/samples/` and the ground-truth MAE is logged before and after.
"""

from configs import pix2pix


def get_config():
    c = pix2pix.get_config()
    c.dataset = "synthetic"
    c.synthetic_train_size = 128
    c.synthetic_test_size = 8
    c.synthetic_image_size = 136
    c.netG = "unet_128"
    c.ngf = 16
    c.ndf = 16
    c.load_size = 136
    c.crop_size = 128
    c.n_epochs = 4
    c.n_epochs_decay = 2
    c.log_every = 64
    c.sample_every = 256
    c.checkpoint_every = 256
    return c
