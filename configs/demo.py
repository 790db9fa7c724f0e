"""A few-minute demo on a 2-core CPU: the embedded synthetic apples -> oranges at 64x64.

`python train.py --workdir=runs/demo --config=configs/demo.py`
A small model (ngf 16, 6 blocks) trained for a few epochs; sample grids land in
`runs/demo/samples/` and the ground-truth MAE is logged before and after.
"""

from configs import default


def get_config():
    c = default.get_config()
    c.dataset = "synthetic"
    c.synthetic_train_size = 128
    c.synthetic_test_size = 16
    c.synthetic_image_size = 80
    c.ngf = 16
    c.ndf = 16
    c.netG = "resnet_6blocks"
    c.load_size = 72
    c.crop_size = 64
    c.batch_size = 1
    c.n_epochs = 4
    c.n_epochs_decay = 2
    c.log_every = 50
    c.sample_every = 256
    c.checkpoint_every = 256
    return c
