/* dm-weights - a model's weights in and out of the ecosystem as
 * safetensors, under the PyTorch twin's state_dict names: a checkpoint's
 * weights exported for PyTorch code (diffusers, stable-diffusion.cpp, ...),
 * or a safetensors file (a twin trained in PyTorch) made into a checkpoint
 * that dm-denoise samples and dm-train --resume goes on training. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/outfile.h"
#include "io/safetensors.h"
#include "models/checkpoint.h"
#include "train/trainer.h"
#include "cli.h"

enum { O_RAW = DM_CLI_LONG };

static const dm_cli_opt options[] = {
	{O_RAW, "raw", NULL, "export the raw weights, not the EMA ones", NULL},
	{0},
};

static const dm_cli cli = {
	"[OPTION]... FILE",
	"Convert a model between dm and safetensors, by what FILE is.\n"
	"A dm-train checkpoint: write its EMA weights (--raw: the raw ones) as a\n"
	"safetensors file, one f32 tensor per parameter under the PyTorch twin's\n"
	"state_dict name (tests/ref/models.py), the checkpoint's header (model\n"
	"configuration, schedule) as the file's __metadata__.\n"
	"A safetensors file: write a dm checkpoint holding its weights (as both\n"
	"weights and EMA; step 0, Adam moments zero, the model's default training\n"
	"options).  Its __metadata__ must carry the model= configuration keys, as\n"
	"an export writes them; its tensors must be exactly the model's, f32 and\n"
	"finite.",
	options,
	DM_CLI_OUTPUT,
	"Examples:\n"
	"  dm-weights fmnist.dmt -o fmnist.safetensors        # for PyTorch\n"
	"  dm-weights twin.safetensors -o twin.dmt            # from PyTorch\n"
	"  dm-noise --prior --shape 16x1x28x28 | dm-denoise -m twin.dmt | dm-encode -o s.png\n",
};

static void export_weights(const char *in, int raw, const char *out)
{
	dm_error err;
	dm_outfile of;
	dm_tool_check(dm_outfile_open(&of, out, &err), &err);
	int rc = dm_checkpoint_export(in, !raw, of.f, out, &err);
	if (rc == 0)
		rc = dm_outfile_commit(&of, &err);
	else
		dm_outfile_abort(&of);
	dm_tool_check(rc, &err);
}

static void import_weights(const char *in, const char *out)
{
	dm_error err;
	dm_trainer tr;
	dm_tool_check(dm_trainer_from_weights(&tr, in, &err), &err);
	int rc = dm_trainer_save(&tr, out, &err);
	dm_trainer_free(&tr);
	dm_tool_check(rc, &err);
}

int main(int argc, char **argv)
{
	dm_tool_init(argv[0]);
	dm_cli_common co;
	int k, raw = 0;
	while ((k = dm_cli_next(&cli, argc, argv, &co)) != -1)
		if (k == O_RAW)
			raw = 1;
	if (argc - optind != 1)
		dm_tool_die("give one FILE: a checkpoint or a safetensors file (see --help)");
	const char *in = argv[optind];
	if (!co.output_given)
		dm_tool_die("give -o OUTPUT (a binary file, not a terminal)");
	unsigned char b[16] = {0};
	FILE *f = fopen(in, "rb");
	if (!f)
		dm_tool_die("%s: %s", in, strerror(errno));
	size_t n = fread(b, 1, sizeof b, f);
	fclose(f);
	if (n >= 8 && !memcmp(b, "\x89" "DMS\r\n\x1a\n", 8))
		export_weights(in, raw, co.output);
	else if (dm_safetensors_sniff(b, n)) {
		if (raw)
			dm_tool_die("--raw is for exporting a checkpoint; %s is safetensors", in);
		import_weights(in, co.output);
	} else
		dm_tool_die("%s: neither a dm checkpoint nor a safetensors file", in);
	return 0;
}
