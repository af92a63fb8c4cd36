"""TLS registry names (IANA "TLS Parameters"), as Wireshark shows them.

Kept apart from the dissector because these are data, not logic: cipher suites, extension
types, groups, signature schemes, alerts, versions.
"""
from __future__ import annotations

VERSIONS = {0x0002: "SSL 2.0", 0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1",
            0x0303: "TLS 1.2", 0x0304: "TLS 1.3", 0xFEFF: "DTLS 1.0", 0xFEFD: "DTLS 1.2",
            0xFEFC: "DTLS 1.3"}
# the Protocol column (Wireshark's short names)
SHORT_VERSIONS = {0x0002: "SSLv2", 0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1",
                  0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
CONTENT_TYPES = {20: "Change Cipher Spec", 21: "Alert", 22: "Handshake", 23: "Application Data",
                 24: "Heartbeat", 25: "Connection ID"}
HANDSHAKE_TYPES = {0: "Hello Request", 1: "Client Hello", 2: "Server Hello",
                   3: "Hello Verify Request", 4: "New Session Ticket", 5: "End of Early Data",
                   6: "Hello Retry Request", 8: "Encrypted Extensions", 11: "Certificate",
                   12: "Server Key Exchange", 13: "Certificate Request",
                   14: "Server Hello Done", 15: "Certificate Verify",
                   16: "Client Key Exchange", 20: "Finished", 21: "Certificate URL",
                   22: "Certificate Status", 23: "Supplemental Data", 24: "Key Update",
                   25: "Compressed Certificate", 254: "Message Hash"}
ALERT_LEVELS = {1: "Warning", 2: "Fatal"}
ALERTS = {0: "Close Notify", 10: "Unexpected Message", 20: "Bad Record MAC",
          21: "Decryption Failed", 22: "Record Overflow", 30: "Decompression Failure",
          40: "Handshake Failure", 41: "No Certificate", 42: "Bad Certificate",
          43: "Unsupported Certificate", 44: "Certificate Revoked", 45: "Certificate Expired",
          46: "Certificate Unknown", 47: "Illegal Parameter", 48: "Unknown CA",
          49: "Access Denied", 50: "Decode Error", 51: "Decrypt Error",
          60: "Export Restriction", 70: "Protocol Version", 71: "Insufficient Security",
          80: "Internal Error", 86: "Inappropriate Fallback", 90: "User Canceled",
          100: "No Renegotiation", 109: "Missing Extension", 110: "Unsupported Extension",
          111: "Certificate Unobtainable", 112: "Unrecognized Name",
          113: "Bad Certificate Status Response", 114: "Bad Certificate Hash Value",
          115: "Unknown PSK Identity", 116: "Certificate Required",
          120: "No application Protocol"}
# the RFC names (snake case), used in findings
ALERT_IDS = {0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac",
             21: "decryption_failed", 22: "record_overflow", 30: "decompression_failure",
             40: "handshake_failure", 41: "no_certificate", 42: "bad_certificate",
             43: "unsupported_certificate", 44: "certificate_revoked", 45: "certificate_expired",
             46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
             49: "access_denied", 50: "decode_error", 51: "decrypt_error",
             70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
             86: "inappropriate_fallback", 90: "user_canceled", 100: "no_renegotiation",
             109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
             113: "bad_certificate_status_response", 115: "unknown_psk_identity",
             116: "certificate_required", 120: "no_application_protocol"}
COMPRESSION = {0: "null", 1: "DEFLATE", 64: "LZS"}
EXTENSIONS = {0: "server_name", 1: "max_fragment_length", 2: "client_certificate_url",
              3: "trusted_ca_keys", 4: "truncated_hmac", 5: "status_request", 6: "user_mapping",
              7: "client_authz", 8: "server_authz", 9: "cert_type", 10: "supported_groups",
              11: "ec_point_formats", 12: "srp", 13: "signature_algorithms", 14: "use_srtp",
              15: "heartbeat", 16: "application_layer_protocol_negotiation",
              17: "status_request_v2", 18: "signed_certificate_timestamp",
              19: "client_certificate_type", 20: "server_certificate_type", 21: "padding",
              22: "encrypt_then_mac", 23: "extended_master_secret", 24: "token_binding",
              25: "cached_info", 27: "compress_certificate", 28: "record_size_limit",
              34: "delegated_credentials", 35: "session_ticket", 41: "pre_shared_key", 42: "early_data",
              43: "supported_versions", 44: "cookie", 45: "psk_key_exchange_modes",
              47: "certificate_authorities", 48: "oid_filters", 49: "post_handshake_auth",
              50: "signature_algorithms_cert", 51: "key_share", 57: "quic_transport_parameters",
              13172: "next_protocol_negotiation", 17513: "application_settings",
              65037: "encrypted_client_hello", 65281: "renegotiation_info"}
GROUPS = {1: "sect163k1", 19: "secp192r1", 21: "secp224r1", 23: "secp256r1", 24: "secp384r1",
          25: "secp521r1", 26: "brainpoolP256r1", 27: "brainpoolP384r1",
          28: "brainpoolP512r1", 29: "x25519", 30: "x448", 256: "ffdhe2048", 257: "ffdhe3072",
          258: "ffdhe4096", 259: "ffdhe6144", 260: "ffdhe8192", 0x6399: "X25519Kyber768Draft00",
          0x11EC: "X25519MLKEM768", 0x0200: "MLKEM512", 0x0201: "MLKEM768",
          0x0202: "MLKEM1024"}
SIGNATURE_SCHEMES = {0x0201: "rsa_pkcs1_sha1", 0x0203: "ecdsa_sha1", 0x0401: "rsa_pkcs1_sha256",
                     0x0403: "ecdsa_secp256r1_sha256", 0x0501: "rsa_pkcs1_sha384",
                     0x0503: "ecdsa_secp384r1_sha384", 0x0601: "rsa_pkcs1_sha512",
                     0x0603: "ecdsa_secp521r1_sha512", 0x0804: "rsa_pss_rsae_sha256",
                     0x0805: "rsa_pss_rsae_sha384", 0x0806: "rsa_pss_rsae_sha512",
                     0x0807: "ed25519", 0x0808: "ed448", 0x0809: "rsa_pss_pss_sha256",
                     0x080A: "rsa_pss_pss_sha384", 0x080B: "rsa_pss_pss_sha512",
                     0x081A: "ecdsa_brainpoolP256r1tls13_sha256",
                     0x081B: "ecdsa_brainpoolP384r1tls13_sha384",
                     0x081C: "ecdsa_brainpoolP512r1tls13_sha512", 0x0202: "SHA1 DSA",
                     0x0402: "SHA256 DSA", 0x0502: "SHA384 DSA", 0x0602: "SHA512 DSA",
                     0x0301: "SHA224 RSA", 0x0302: "SHA224 DSA", 0x0303: "SHA224 ECDSA"}
PSK_MODES = {0: "PSK-only key establishment (psk_ke)",
             1: "PSK with (EC)DHE key establishment (psk_dhe_ke)"}
EC_POINT_FORMATS = {0: "uncompressed", 1: "ansiX962_compressed_prime",
                    2: "ansiX962_compressed_char2"}
CERT_STATUS_TYPES = {1: "OCSP", 2: "OCSP Multi"}
SNI_TYPES = {0: "host_name"}
CURVE_TYPES = {1: "explicit_prime", 2: "explicit_char2", 3: "named_curve"}
CLIENT_CERT_TYPES = {1: "RSA Sign", 2: "DSS Sign", 3: "RSA Fixed DH", 4: "DSS Fixed DH",
                     64: "ECDSA Sign", 65: "RSA Fixed ECDH", 66: "ECDSA Fixed ECDH"}

CIPHER_SUITES = {
    0x0000: "TLS_NULL_WITH_NULL_NULL", 0x0001: "TLS_RSA_WITH_NULL_MD5",
    0x0002: "TLS_RSA_WITH_NULL_SHA", 0x0004: "TLS_RSA_WITH_RC4_128_MD5",
    0x0005: "TLS_RSA_WITH_RC4_128_SHA", 0x000A: "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    0x0013: "TLS_DHE_DSS_WITH_3DES_EDE_CBC_SHA", 0x0016: "TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0x002F: "TLS_RSA_WITH_AES_128_CBC_SHA", 0x0032: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA",
    0x0033: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA", 0x0035: "TLS_RSA_WITH_AES_256_CBC_SHA",
    0x0038: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA", 0x0039: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA",
    0x003C: "TLS_RSA_WITH_AES_128_CBC_SHA256", 0x003D: "TLS_RSA_WITH_AES_256_CBC_SHA256",
    0x0040: "TLS_DHE_DSS_WITH_AES_128_CBC_SHA256",
    0x0041: "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", 0x0045: "TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA",
    0x0067: "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", 0x006A: "TLS_DHE_DSS_WITH_AES_256_CBC_SHA256",
    0x006B: "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", 0x0084: "TLS_RSA_WITH_CAMELLIA_256_CBC_SHA",
    0x0088: "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", 0x008C: "TLS_PSK_WITH_AES_128_CBC_SHA",
    0x008D: "TLS_PSK_WITH_AES_256_CBC_SHA", 0x009C: "TLS_RSA_WITH_AES_128_GCM_SHA256",
    0x009D: "TLS_RSA_WITH_AES_256_GCM_SHA384", 0x009E: "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    0x009F: "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", 0x00A2: "TLS_DHE_DSS_WITH_AES_128_GCM_SHA256",
    0x00A3: "TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", 0x00A8: "TLS_PSK_WITH_AES_128_GCM_SHA256",
    0x00A9: "TLS_PSK_WITH_AES_256_GCM_SHA384", 0x00FF: "TLS_EMPTY_RENEGOTIATION_INFO_SCSV",
    0x1301: "TLS_AES_128_GCM_SHA256", 0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256", 0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256", 0x5600: "TLS_FALLBACK_SCSV",
    0xC002: "TLS_ECDH_ECDSA_WITH_RC4_128_SHA", 0xC003: "TLS_ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC004: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", 0xC005: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA",
    0xC007: "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA", 0xC008: "TLS_ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA",
    0xC009: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", 0xC00A: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    0xC00C: "TLS_ECDH_RSA_WITH_RC4_128_SHA", 0xC00D: "TLS_ECDH_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC00E: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", 0xC00F: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA",
    0xC011: "TLS_ECDHE_RSA_WITH_RC4_128_SHA", 0xC012: "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    0xC013: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", 0xC014: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    0xC023: "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC024: "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC025: "TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256",
    0xC026: "TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384",
    0xC027: "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", 0xC028: "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384",
    0xC029: "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", 0xC02A: "TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384",
    0xC02B: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02C: "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02D: "TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256",
    0xC02E: "TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384",
    0xC02F: "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", 0xC030: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    0xC031: "TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", 0xC032: "TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384",
    0xC09C: "TLS_RSA_WITH_AES_128_CCM", 0xC09D: "TLS_RSA_WITH_AES_256_CCM",
    0xC0AC: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", 0xC0AD: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM",
    0xC0AE: "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", 0xC0AF: "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
    0xCCA8: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCA9: "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAA: "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAB: "TLS_PSK_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAC: "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
    0xCCAD: "TLS_DHE_PSK_WITH_CHACHA20_POLY1305_SHA256",
}


def is_grease(v: int) -> bool:
    """RFC 8701 GREASE values (0x0A0A, 0x1A1A, ... 0xFAFA): sent to keep peers tolerant."""
    return v & 0x0F0F == 0x0A0A and v >> 8 == v & 0xFF


def name16(table: dict[int, str], v: int) -> str:
    """A 16-bit registry value's name, GREASE shown as such (Wireshark: 'Reserved (GREASE)')."""
    if is_grease(v):
        return "Reserved (GREASE)"
    return table.get(v, "Unknown")


class GreaseNames(dict):
    """A value-string map that names GREASE values, for fields whose values may be GREASE."""

    def __init__(self, base: dict[int, str]) -> None:
        super().__init__(base)

    def get(self, key, default=None):  # type: ignore[override]
        if isinstance(key, int) and is_grease(key):
            return "Reserved (GREASE)"
        return super().get(key, default)
