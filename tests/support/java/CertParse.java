import java.io.File;
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Arrays;

/**
 * Parses every file of a folder as one X.509 certificate, the way KeyStore.load does (CertificateFactory
 * "X.509", then the public key), and prints "OK NAME" or "FAIL NAME<TAB>reason" per file, in name order.
 *
 * Usage: java CertParse FOLDER
 */
public class CertParse {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        File[] files = new File(args[0]).listFiles();
        Arrays.sort(files);
        for (File f : files) {
            try (InputStream in = new FileInputStream(f)) {
                X509Certificate c = (X509Certificate) cf.generateCertificate(in);
                c.getPublicKey().getEncoded();
                System.out.println("OK " + f.getName());
            } catch (Exception e) {
                String why = (e.getClass().getName() + ": " + e.getMessage()).replace('\n', ' ');
                System.out.println("FAIL " + f.getName() + "\t" + why);
            }
        }
    }
}
