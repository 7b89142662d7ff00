/* unicode.c: UTF-8 decoding as llama.cpp does it, White_Space, the GPT-2 byte map, and
 * stand-ins for code points newer than PCRE2's tables. Tests: tests/test_tokenizer.c. */
#include "tokenizer/unicode.h"

static bool is_continuation(uint8_t b) { return (b & 0xC0) == 0x80; }

/* The lead byte alone decides the length (1..4); bytes after it must be continuations.
 * Anything else is one invalid byte, read as U+FFFD. */
uint32_t unicode_decode(const uint8_t *s, size_t len, size_t *pos) {
    size_t i = *pos;
    uint8_t b0 = s[i];
    if (b0 < 0x80) {
        *pos = i + 1;
        return b0;
    }
    size_t n = (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || len - i < n) {
        *pos = i + 1;
        return UNICODE_REPLACEMENT;
    }
    uint32_t cp = b0 & (0x7F >> n);
    for (size_t k = 1; k < n; k++) {
        if (!is_continuation(s[i + k])) {
            *pos = i + 1;
            return UNICODE_REPLACEMENT;
        }
        cp = (cp << 6) | (s[i + k] & 0x3F);
    }
    *pos = i + n;
    return cp <= 0x10FFFF ? cp : UNICODE_REPLACEMENT; /* llama.cpp throws here */
}

size_t unicode_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | ((cp >> 18) & 0x07));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

bool unicode_is_whitespace(uint32_t cp) {
    if ((cp >= 0x09 && cp <= 0x0D) || cp == 0x20) return true;
    if (cp < 0x85) return false;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

/* Printable bytes map to themselves: '!'..'~', 0xA1..0xAC, 0xAE..0xFF. The other 68
 * bytes, in increasing order, map to U+0100, U+0101, ... (0x00..0x20, 0x7F..0xA0, 0xAD). */
uint32_t unicode_byte_to_cp(uint8_t b) {
    if (b <= 0x20) return 0x100u + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100u + 33 + (b - 0x7Fu);
    if (b == 0xAD) return 0x100u + 67;
    return b;
}

int unicode_cp_to_byte(uint32_t cp) {
    if (cp < 0x100) {
        bool printable = (cp >= 0x21 && cp <= 0x7E) || (cp >= 0xA1 && cp <= 0xAC) || cp >= 0xAE;
        return printable ? (int)cp : -1;
    }
    uint32_t n = cp - 0x100;
    if (n <= 32) return (int)n;
    if (n <= 66) return (int)(0x7F + (n - 33));
    if (n == 67) return 0xAD;
    return -1;
}

/* One stand-in per class and UTF-8 length, each classified so since Unicode 6 or earlier. */
uint32_t unicode_pcre2_stand_in(uint32_t cp) {
    if (cp < 0xCF3) return cp;
    size_t lo = 0, hi = unicode_delta_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (unicode_delta_ranges[mid].last < cp) lo = mid + 1;
        else hi = mid;
    }
    if (lo == unicode_delta_count || unicode_delta_ranges[lo].first > cp) return cp;
    bool bmp = cp < 0x10000;
    switch (unicode_delta_ranges[lo].cls) {
    case 'L': return bmp ? 0xA000 : 0x10000;  /* YI SYLLABLE IT; LINEAR B SYLLABLE B008 A */
    case 'N': return bmp ? 0x2460 : 0x10107;  /* CIRCLED DIGIT ONE; AEGEAN NUMBER ONE */
    case 'P': return bmp ? 0xA4FE : 0x10100;  /* LISU PUNCTUATION COMMA; AEGEAN WORD SEPARATOR LINE */
    case 'S': return bmp ? 0xA490 : 0x1F600;  /* YI RADICAL QOT; GRINNING FACE */
    case 'M': return bmp ? 0xA802 : 0x101FD;  /* SYLOTI NAGRI SIGN DVISVARA; PHAISTOS COMBINING STROKE */
    default: return cp;
    }
}
