/* `margin`: command-line front end of libmargin.
 *
 *   margin calc ...     figures of one isolated or cross position (see `margin help calc`)
 *   margin replay ...   mark prices driving positions: margin calls, liquidations
 *   margin help [CMD]   usage
 *   margin --version    versions of the tool and of the loaded library */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void usage(FILE *f)
{
    fputs("usage: margin COMMAND [ARGS]\n"
          "\n"
          "Exact isolated- and cross-margin arithmetic for leveraged futures and perpetuals.\n"
          "\n"
          "Commands:\n"
          "  calc      liquidation, bankruptcy and maintenance figures of one position\n"
          "            (isolated, or with --cross beside the account's other positions;\n"
          "            --inverse: an inverse, coin-margined contract);\n"
          "            --liquidation POLICY: what a liquidation at --mark would do\n"
          "  replay    replay mark prices over positions: margin calls, liquidations, stops,\n"
          "            funding (with no arguments: the built-in demo; --demo contrast:\n"
          "            isolated against cross margin); liquidation policies, fills and\n"
          "            candles (--liquidation, --liq-fee, --fill, --path); inverse\n"
          "            contracts (--inverse)\n"
          "  help      this text, or `margin help COMMAND` for a command's options\n"
          "\n"
          "Options: --version, --help.\n"
          "Numbers are exact decimals, never binary floats. With --json, every decimal is\n"
          "written as a JSON string (\"19076.30522089\"), so that no JSON reader turns it\n"
          "into a float; ids, counts and sequence numbers are JSON numbers.\n"
          "Examples:\n"
          "  margin calc --side long --entry 20000 --notional 2000 --leverage 20\n"
          "  margin replay\n",
          f);
}

int main(int argc, char **argv)
{
    const char *cmd;

    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    cmd = argv[1];
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("margin %s (libmargin %s)\n", MARGIN_VERSION_STRING, margin_version_string());
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc < 3) {
            usage(stdout);
        } else if (strcmp(argv[2], "calc") == 0) {
            cli_usage_calc(stdout);
        } else if (strcmp(argv[2], "replay") == 0) {
            cli_usage_replay(stdout);
        } else {
            fprintf(stderr, "margin help: '%s' is not a command (calc, replay)\n", argv[2]);
            return CLI_EXIT_USAGE;
        }
        return CLI_EXIT_OK;
    }
    if (strcmp(cmd, "calc") == 0)
        return cli_cmd_calc(argc - 1, argv + 1);
    if (strcmp(cmd, "replay") == 0)
        return cli_cmd_replay(argc - 1, argv + 1);
    fprintf(stderr, "margin: '%s' is not a command (calc, replay, help); see margin --help\n",
            cmd);
    return CLI_EXIT_USAGE;
}
