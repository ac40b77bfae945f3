import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.HexFormat;
import sun.security.x509.X500Name;

/**
 * Prints, for every line of the input file (a hex-encoded UTF-8 -dname string), the DER that
 * keytool -genkeypair -dname would write: keytool builds the subject with exactly
 * {@code new sun.security.x509.X500Name(dname)}.
 * Output: one line per input, "OK <der hex>" or "ERR <exception message>".
 * Run: java --add-exports java.base/sun.security.x509=ALL-UNNAMED DnDer FILE
 */
public class DnDer {
    public static void main(String[] args) throws Exception {
        HexFormat hex = HexFormat.of();
        for (String line : Files.readAllLines(Paths.get(args[0]), StandardCharsets.US_ASCII)) {
            String dname = new String(hex.parseHex(line.trim()), StandardCharsets.UTF_8);
            try {
                byte[] der = new X500Name(dname).getEncoded();
                System.out.println("OK " + hex.formatHex(der));
            } catch (Exception e) {
                System.out.println("ERR " + e.getClass().getSimpleName() + ": "
                        + String.valueOf(e.getMessage()).replace('\n', ' '));
            }
        }
    }
}
