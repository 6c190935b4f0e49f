/* Version and status-code text. */
#include "margin.h"

int32_t margin_version_number(void)
{
    return MARGIN_VERSION_NUMBER;
}

const char *margin_version_string(void)
{
    return MARGIN_VERSION_STRING;
}

const char *margin_strerror(int code)
{
    switch (code) {
    case MARGIN_OK:
        return "success";
    case MARGIN_EINVAL:
        return "invalid argument";
    case MARGIN_ENOMEM:
        return "out of memory";
    case MARGIN_EOVERFLOW:
        return "arithmetic overflow";
    case MARGIN_EPARSE:
        return "not a plain decimal number";
    case MARGIN_ERANGE:
        return "value out of range or too many decimal places";
    case MARGIN_ENOTFOUND:
        return "no such market, account or position";
    case MARGIN_ECLOSED:
        return "position is closed or liquidated";
    case MARGIN_EFUNDS:
        return "insufficient free balance";
    case MARGIN_ELEVERAGE:
        return "leverage out of range";
    case MARGIN_EGRID:
        return "price or quantity off the tick or step grid";
    case MARGIN_ESTATE:
        return "not allowed in the current state";
    case MARGIN_EMARGIN:
        return "margin below what the position requires";
    case MARGIN_EBUFFER:
        return "buffer too small";
    case MARGIN_EEXIST:
        return "already exists";
    case MARGIN_ENOTSUP:
        return "not supported";
    case MARGIN_EFULL:
        return "event queue full";
    case MARGIN_EMAGIC:
        return "not a libmargin snapshot";
    case MARGIN_EVERSION:
        return "unknown snapshot format version";
    case MARGIN_ECHECKSUM:
        return "snapshot checksum mismatch";
    case MARGIN_ETRUNCATED:
        return "snapshot truncated";
    case MARGIN_ECORRUPT:
        return "snapshot field out of range or inconsistent";
    case MARGIN_EIO:
        return "file input/output error";
    case MARGIN_EASSET:
        return "markets of one engine settle in one asset";
    default:
        return "unknown status code";
    }
}
