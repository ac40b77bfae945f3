import java.io.File;
import java.security.Key;
import java.security.KeyStore;
import java.security.MessageDigest;
import java.security.cert.Certificate;
import java.util.Collections;

/**
 * Opens a keystore the way a Java service does and prints one JSON line per entry.
 *
 * Usage: java KsCheck FILE [TYPE]   (TYPE: JKS, JCEKS, PKCS12; default: KeyStore.getInstance(File, pw) probing)
 * Passwords come from the environment (never argv): KSCHECK_STOREPASS, KSCHECK_KEYPASS (default: store pass).
 */
public class KsCheck {
    static String hex(byte[] b) throws Exception {
        byte[] d = MessageDigest.getInstance("SHA-256").digest(b);
        StringBuilder sb = new StringBuilder();
        for (byte x : d) sb.append(String.format("%02x", x));
        return sb.toString();
    }

    static String q(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    public static void main(String[] args) throws Exception {
        char[] sp = System.getenv("KSCHECK_STOREPASS").toCharArray();
        String kpEnv = System.getenv("KSCHECK_KEYPASS");
        char[] kp = kpEnv == null ? sp : kpEnv.toCharArray();
        File f = new File(args[0]);
        KeyStore ks;
        if (args.length > 1) {
            ks = KeyStore.getInstance(args[1]);
            try (java.io.FileInputStream in = new java.io.FileInputStream(f)) {
                ks.load(in, sp);
            }
        } else {
            ks = KeyStore.getInstance(f, sp);
        }
        System.out.println("{\"type\": " + q(ks.getType()) + ", \"size\": " + ks.size() + "}");
        for (String alias : Collections.list(ks.aliases())) {
            StringBuilder sb = new StringBuilder("{\"alias\": " + q(alias));
            if (ks.isKeyEntry(alias)) {
                Key k = ks.getKey(alias, kp);
                sb.append(", \"kind\": \"key\", \"key_alg\": " + q(k.getAlgorithm()));
                sb.append(", \"key_format\": " + q(k.getFormat()));
                sb.append(", \"key_sha256\": " + q(hex(k.getEncoded())));
                Certificate[] chain = ks.getCertificateChain(alias);
                sb.append(", \"chain\": [");
                for (int i = 0; chain != null && i < chain.length; i++) {
                    if (i > 0) sb.append(", ");
                    sb.append(q(hex(chain[i].getEncoded())));
                }
                sb.append("]");
                // the private key must belong to the leaf certificate
                sb.append(", \"leaf_pub_sha256\": " + q(hex(chain[0].getPublicKey().getEncoded())));
            } else {
                Certificate c = ks.getCertificate(alias);
                sb.append(", \"kind\": \"trusted\", \"cert\": " + q(hex(c.getEncoded())));
            }
            java.util.Date d = ks.getCreationDate(alias);
            sb.append(", \"created_ms\": " + (d == null ? "null" : Long.toString(d.getTime())));
            sb.append("}");
            System.out.println(sb);
        }
    }
}
