// sim2pi reference microcontroller sketch: the device side of sim2pi's serial line protocol
// (robot/hardware/frames.py). NOT compiled or flashed here: no board or toolchain was available;
// robot/hardware/sim/mcu_emulator.py is the tested implementation of the same behaviour.
//   MCU -> Pi: $S,<seq>,<t_ms>,<mm_left>,<mm_front>,<mm_right>,<flags>*<crc>\n every 50 ms
//   Pi -> MCU: $D,<seq>,<left>,<right>*<crc>\n (duty in thousandths)   $H,<seq>*<crc>\n
// CRC-8/SMBUS (poly 0x07, init 0) over the bytes between '$' and '*', two upper-case hex digits.
// Heartbeat stop: no valid D/H for 250 ms -> both motors off, flag bit 1 set until the next D.
// After a reset (power-on, reset button, brown-out): seq from 0, flag bits 1 and 2 set, motors
// held until a D stop (0,0) arrives; bit 2 tells the Pi to take the new seq as a new count.
// Wiring (L298N + 3 HC-SR04 + bump switch to GND), Arduino Uno pins:
const uint8_t TRIG[3] = {2, 4, 7}, ECHO[3] = {3, 5, 8};
const uint8_t IN1 = 9, IN2 = 10, IN3 = 6, IN4 = 11;  // PWM pins: left IN1/IN2, right IN3/IN4
const uint8_t BUMPER = 12;
const unsigned long PERIOD_MS = 50, HEARTBEAT_MS = 250, ECHO_TIMEOUT_US = 25000;  // ~4.3 m

uint16_t seq = 0;
unsigned long lastValidMs = 0, lastSensorMs = 0;
bool failsafe = true;  // stopped until the first D
bool booting = true;   // just reset: flag bit 2, and only a D stop ends the hold
char line[97];
uint8_t lineLen = 0;

uint8_t crc8(const char *s, uint8_t n) {
  uint8_t crc = 0;
  for (uint8_t i = 0; i < n; i++) {
    crc ^= (uint8_t)s[i];
    for (uint8_t b = 0; b < 8; b++) crc = (crc & 0x80) ? (uint8_t)((crc << 1) ^ 0x07) : (uint8_t)(crc << 1);
  }
  return crc;
}

void motor(uint8_t a, uint8_t b, int permille) {  // signed duty in thousandths -> PWM 0..255
  int pwm = (int)((long)abs(permille) * 255 / 1000);
  analogWrite(a, permille > 0 ? pwm : 0);
  analogWrite(b, permille < 0 ? pwm : 0);
}

void stopMotors() { motor(IN1, IN2, 0); motor(IN3, IN4, 0); }

void handleLine(char *s, uint8_t n) {  // s = "$...*HH" without the newline
  if (n < 5 || s[0] != '$' || s[n - 3] != '*') return;
  if (strtoul(s + n - 2, NULL, 16) != crc8(s + 1, n - 4)) return;  // corrupt: drop
  s[n - 3] = '\0';
  if (s[1] == 'H' && s[2] == ',') { lastValidMs = millis(); return; }
  if (s[1] != 'D' || s[2] != ',') return;
  char *p = s + 3;
  strtol(p, &p, 10);  // seq (not checked for order here; the Pi's side is the strict one)
  if (*p++ != ',') return;
  long left = strtol(p, &p, 10);
  if (*p++ != ',') return;
  long right = strtol(p, &p, 10);
  if (*p != '\0' || left < -1000 || left > 1000 || right < -1000 || right > 1000) return;
  if (booting && (left != 0 || right != 0)) return;  // after a reset, a stop comes first
  booting = false;
  motor(IN1, IN2, (int)left); motor(IN3, IN4, (int)right);
  failsafe = false;
  lastValidMs = millis();
}

void sendSensors() {
  char body[80];
  int n = snprintf(body, sizeof body, "S,%u,%lu", seq++, millis());
  for (uint8_t i = 0; i < 3; i++) {
    digitalWrite(TRIG[i], HIGH); delayMicroseconds(10); digitalWrite(TRIG[i], LOW);
    unsigned long us = pulseIn(ECHO[i], HIGH, ECHO_TIMEOUT_US);
    if (us == 0) n += snprintf(body + n, sizeof body - n, ",");  // no echo: empty field
    else n += snprintf(body + n, sizeof body - n, ",%lu", us * 343UL / 2000UL);  // mm
  }
  uint8_t flags = (digitalRead(BUMPER) == LOW ? 1 : 0) | (failsafe ? 2 : 0) | (booting ? 4 : 0);
  n += snprintf(body + n, sizeof body - n, ",%02X", flags);
  Serial.print('$'); Serial.print(body); Serial.print('*');
  uint8_t crc = crc8(body, n);
  if (crc < 16) Serial.print('0');
  Serial.println(crc, HEX);  // println ends with \r\n, which the Pi accepts
}

void setup() {
  Serial.begin(115200);
  for (uint8_t i = 0; i < 3; i++) { pinMode(TRIG[i], OUTPUT); pinMode(ECHO[i], INPUT); }
  pinMode(IN1, OUTPUT); pinMode(IN2, OUTPUT); pinMode(IN3, OUTPUT); pinMode(IN4, OUTPUT);
  pinMode(BUMPER, INPUT_PULLUP);
  stopMotors();
}

void loop() {
  while (Serial.available()) {
    char c = (char)Serial.read();
    if (c == '\n') {
      if (lineLen && line[lineLen - 1] == '\r') lineLen--;
      line[lineLen] = '\0';
      handleLine(line, lineLen);
      lineLen = 0;
    } else if (lineLen < sizeof line - 1) {
      line[lineLen++] = c;
    } else {
      lineLen = 0;  // over-long line: drop it
    }
  }
  if (!failsafe && millis() - lastValidMs > HEARTBEAT_MS) { stopMotors(); failsafe = true; }
  if (millis() - lastSensorMs >= PERIOD_MS) { lastSensorMs = millis(); sendSensors(); }
}
