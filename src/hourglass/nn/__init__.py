"""Network blocks: MLP and convolutional encoders/decoders, and the masked convolutions of the
autoregressive models. Blocks know nothing of objectives or training."""

from hourglass.nn.layers import ConvDecoder, ConvEncoder, MLPDecoder, MLPEncoder, mlp
from hourglass.nn.masked import (GatedMaskedLayer, GatedStacksInput, MaskedConv2d,
                                 MaskedResidualBlock, gate, pixel_head, raster_mask, vertical_mask)

__all__ = ["ConvDecoder", "ConvEncoder", "GatedMaskedLayer", "GatedStacksInput", "MLPDecoder",
           "MLPEncoder", "MaskedConv2d", "MaskedResidualBlock", "gate", "mlp", "pixel_head",
           "raster_mask", "vertical_mask"]
