using System.Runtime.InteropServices;

namespace Vega.Core.Hashing;

/// <summary>
/// sha256, sha1, md5 and blake2b through the system's libcrypto (OpenSSL 3 or 1.1), loaded at first use.
/// .NET's own SHA256/SHA1/MD5 call the same libcrypto, but .NET has no BLAKE2; binding the four EVP
/// calls directly gives one path and one availability rule for all four (hashlib uses the same
/// library, so the digests and their speed match Python's). Without libcrypto these algorithms
/// are reported unavailable, never guessed.
/// </summary>
public sealed unsafe class OpenSslDigest : Hasher
{
    private nint _context;
    private readonly nint _md;
    private readonly int _size;

    public OpenSslDigest(HashAlgorithmKind kind)
    {
        _md = Crypto.Digest(kind);
        if (_md == 0) throw new PlatformNotSupportedException($"{kind.ToString().ToLowerInvariant()} is not available: {Crypto.Problem(kind)}");
        _size = kind switch { HashAlgorithmKind.Sha256 => 32, HashAlgorithmKind.Sha1 => 20, HashAlgorithmKind.Md5 => 16, _ => 64 };
        _context = Crypto.NewContext();
        if (_context == 0) throw new OutOfMemoryException("EVP_MD_CTX_new failed");
        Reset();
    }

    ~OpenSslDigest()
    {
        if (_context != 0) Crypto.FreeContext(_context);
    }

    public override int DigestSize => _size;

    public override void Reset() => Crypto.Check(Crypto.Init(_context, _md, 0), "EVP_DigestInit_ex");

    public override void Append(ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data) Crypto.Check(Crypto.Update(_context, p, (nuint)data.Length), "EVP_DigestUpdate");
    }

    public override int Finish(Span<byte> digest)
    {
        uint written = 0;
        fixed (byte* p = digest)
        {
            if (digest.Length < _size) throw new ArgumentException("digest buffer too small");
            Crypto.Check(Crypto.Final(_context, p, &written), "EVP_DigestFinal_ex");
        }
        return (int)written;
    }

    internal static bool Has(HashAlgorithmKind kind) => Crypto.Digest(kind) != 0;

    private static class Crypto
    {
        private static readonly nint s_library = Load();
        private static readonly delegate* unmanaged<byte*, nint> s_byName = (delegate* unmanaged<byte*, nint>)Export("EVP_get_digestbyname");
        private static readonly delegate* unmanaged<nint, byte*, byte*, nint> s_fetch = (delegate* unmanaged<nint, byte*, byte*, nint>)Export("EVP_MD_fetch");
        private static readonly delegate* unmanaged<nint> s_newContext = (delegate* unmanaged<nint>)Export("EVP_MD_CTX_new");
        private static readonly delegate* unmanaged<nint, void> s_freeContext = (delegate* unmanaged<nint, void>)Export("EVP_MD_CTX_free");
        private static readonly delegate* unmanaged<nint, nint, nint, int> s_init = (delegate* unmanaged<nint, nint, nint, int>)Export("EVP_DigestInit_ex");
        private static readonly delegate* unmanaged<nint, byte*, nuint, int> s_update = (delegate* unmanaged<nint, byte*, nuint, int>)Export("EVP_DigestUpdate");
        private static readonly delegate* unmanaged<nint, byte*, uint*, int> s_final = (delegate* unmanaged<nint, byte*, uint*, int>)Export("EVP_DigestFinal_ex");
        private static readonly nint[] s_digests = new nint[4];
        private static readonly bool[] s_looked = new bool[4];
        private static readonly object s_lock = new();

        private static nint Load()
        {
            foreach (var name in new[] { "libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.so" })
                if (NativeLibrary.TryLoad(name, out nint handle)) return handle;
            return 0;
        }

        private static nint Export(string name) =>
            s_library != 0 && NativeLibrary.TryGetExport(s_library, name, out nint address) ? address : 0;

        private static bool Usable => s_byName != null && s_newContext != null && s_freeContext != null
                                      && s_init != null && s_update != null && s_final != null;

        public static string Problem(HashAlgorithmKind kind) =>
            s_library == 0 ? "the system's OpenSSL library (libcrypto.so.3 or .so.1.1) was not found"
            : !Usable ? "the system's libcrypto lacks the EVP digest functions"
            : "the system's OpenSSL does not provide it (disabled, or FIPS mode)";

        /// <summary>The EVP_MD for an algorithm, or 0. Fetched once (OpenSSL 3's explicit fetch avoids a
        /// lookup on every init) and kept for the life of the process.</summary>
        public static nint Digest(HashAlgorithmKind kind)
        {
            int k = (int)kind;
            if ((uint)k >= 4 || !Usable) return 0;
            lock (s_lock)
            {
                if (!s_looked[k])
                {
                    string[] names = kind switch
                    {
                        HashAlgorithmKind.Sha256 => ["SHA256"],
                        HashAlgorithmKind.Sha1 => ["SHA1"],
                        HashAlgorithmKind.Md5 => ["MD5"],
                        _ => ["BLAKE2B-512", "BLAKE2b512"],
                    };
                    foreach (var name in names)
                    {
                        byte[] text = System.Text.Encoding.ASCII.GetBytes(name + "\0");
                        fixed (byte* p = text)
                        {
                            nint md = s_fetch != null ? s_fetch(0, p, null) : 0;
                            if (md == 0) md = s_byName(p);
                            if (md != 0 && Probe(md)) { s_digests[k] = md; break; }
                        }
                    }
                    s_looked[k] = true;
                }
                return s_digests[k];
            }
        }

        /// <summary>A digest can be listed yet refused at init (FIPS mode refuses md5): try it once.</summary>
        private static bool Probe(nint md)
        {
            nint context = s_newContext();
            if (context == 0) return false;
            bool ok = s_init(context, md, 0) == 1;
            s_freeContext(context);
            return ok;
        }

        public static nint NewContext() => s_newContext();
        public static void FreeContext(nint context) => s_freeContext(context);
        public static int Init(nint context, nint md, nint engine) => s_init(context, md, engine);
        public static int Update(nint context, byte* data, nuint length) => s_update(context, data, length);
        public static int Final(nint context, byte* digest, uint* length) => s_final(context, digest, length);

        public static void Check(int result, string function)
        {
            if (result != 1) throw new InvalidOperationException($"OpenSSL {function} failed");
        }
    }
}
