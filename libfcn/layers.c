/*
 * layers.c - the table of layer kinds by Caffe type name.
 */
#include <string.h>

#include "layer.h"

const struct fcn_layer_ops *const fcn_layer_kinds[] = {
	&fcn_input_ops, &fcn_data_ops, &fcn_conv_ops, &fcn_deconv_ops,
	&fcn_pool_ops, &fcn_lrn_ops, &fcn_relu_ops, &fcn_sigmoid_ops,
	&fcn_power_ops, &fcn_dropout_ops, &fcn_crop_ops, &fcn_eltwise_ops,
	&fcn_concat_ops, &fcn_batchnorm_ops, &fcn_scale_ops, &fcn_softmax_ops,
	&fcn_softmax_loss_ops, &fcn_accuracy_ops, &fcn_dice_ops, &fcn_python_ops,
	&fcn_mvn_ops, &fcn_ip_ops, NULL
};

const struct fcn_layer_ops *fcn_layer_kind(const char *type)
{
	for (int i = 0; fcn_layer_kinds[i]; i++)
		if (!strcmp(fcn_layer_kinds[i]->type, type))
			return fcn_layer_kinds[i];
	return NULL;
}
