"""The Segmentation page's sections (U-Net training, upsampling, pretrained segmenters)."""
